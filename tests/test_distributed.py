"""bitprop.distributed on a real LocalCluster (2 worker processes): every loss and gradient bit
equals the single process on random DAGs and MLPs, and so do growth sweeps run as tasks; a
worker killed mid-run changes nothing, the wire format is exact, and without --dask (or
client=) nothing of Dask is imported."""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")          # a dependency of distributed

import bitprop  # noqa: E402
from bitprop import distributed  # noqa: E402
from bitprop.cli import run  # noqa: E402
from bitprop.distributed import wire  # noqa: E402
from bitprop.distributed.wire import Vector  # noqa: E402
from bitprop.experiments import growth  # noqa: E402
from bitprop.experiments.random_networks import random_dataset, random_mlp  # noqa: E402
from bitprop.experiments.tables import read_csv  # noqa: E402
from strategies import network_and_dataset  # noqa: E402

#: Where this process imported bitprop from (site-packages when installed, src/ in a build in
#: place): subprocesses must load the same build.
SRC = str(Path(bitprop.__file__).resolve().parents[1])
#: Seconds any single wait on the cluster may take on a loaded 2-core machine.
PATIENCE = 120


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of 2 single-threaded worker processes for the whole module; afterwards
    no worker process may be left running."""
    with distributed.connect("local:2") as client:
        client.wait_for_workers(2, timeout=PATIENCE)
        yield client
        pids = set(client.run(os.getpid).values())
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "worker processes left running"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _full_workers(client):
    """Two workers again: after a kill the nanny restarts one, but a nanny whose restart does
    not come up in time on a loaded machine gives up, and then a new worker is started."""
    try:
        client.wait_for_workers(2, timeout=PATIENCE / 2)
    except Exception:
        cluster = client.cluster
        cluster.scale(len(cluster.worker_spec) + 2 - len(client.nthreads()))
        client.wait_for_workers(2, timeout=PATIENCE)


def assert_same_grad(result, expected):
    assert result.loss == expected.loss
    assert list(result.grad_weight) == list(expected.grad_weight)
    assert list(result.grad_bias) == list(expected.grad_bias)
    assert result.outputs == expected.outputs
    assert result.bits.to_json(detail=True) == expected.bits.to_json(detail=True)


# --- the wire ------------------------------------------------------------------------------
fractions = st.builds(Fraction, st.integers(-2 ** 300, 2 ** 300), st.integers(1, 2 ** 200))


@settings(max_examples=200, deadline=None)
@given(st.lists(fractions, max_size=12), st.lists(fractions, max_size=12), fractions)
def test_vector_arithmetic_and_packing_are_exact(left, right, rate):
    right = (right + left)[:len(left)]
    assert len(right) == len(left)
    mask = [i % 3 != 1 for i in range(len(left))]
    a, b = Vector.from_fractions(left), Vector.from_fractions(right)
    assert Vector.unpack(a.pack()).fractions() == left
    assert a.plus(b).fractions() == [x + y for x, y in zip(left, right)]
    assert a.minus(b.scaled(rate), mask).fractions() == [
        x - rate * y if m else x for x, y, m in zip(left, right, mask)]
    for value in a.plus(b).fractions():    # lowest terms: one representation per rational
        assert Fraction(value.numerator, value.denominator) == value
        assert value.denominator > 0


@pytest.mark.parametrize("flint_bits", [0, 10 ** 9])
def test_flint_and_python_additions_agree(monkeypatch, flint_bits):
    """Big entries are added with FLINT's integers, small ones with CPython's: same values."""
    monkeypatch.setattr(wire, "FLINT_BITS", flint_bits)
    rng = random.Random(10)
    common = rng.getrandbits(4000) | 1

    def draw():
        denominator = rng.choice([1, 2 ** rng.randrange(5000), common * rng.randrange(1, 9)])
        return Fraction(rng.getrandbits(rng.choice([3, 300, 6000])) - 2 ** 2000, denominator)

    left, right = [draw() for _ in range(40)], [draw() for _ in range(40)]
    total = Vector.from_fractions(left).plus(Vector.from_fractions(right))
    assert total.fractions() == [x + y for x, y in zip(left, right)]


def test_repeated_values_travel_once():
    big = Fraction(3 ** 400, 2 ** 77)
    once = Vector.from_fractions([big]).pack()
    many = Vector.from_fractions([big] * 1000 + [Fraction(0)] * 1000).pack(repeats=True)
    assert len(many) < len(once) + 6000          # the slot index, not 1000 copies of big
    assert Vector.unpack(many).fractions() == [big] * 1000 + [Fraction(0)] * 1000
    assert str(3 ** 400).encode() not in many    # binary ints, never decimal text


@settings(max_examples=200, deadline=None)
@given(st.lists(fractions, max_size=12), st.booleans())
def test_parameters_decode_in_c_to_the_same_values(values, repeats):
    packed = Vector.from_fractions(values * 2).pack(repeats=repeats)
    vector = Vector.unpack_rational_vector(packed)
    assert type(vector).__name__ == "RationalVector"
    assert list(vector) == values * 2 == Vector.unpack(packed).fractions()


@pytest.mark.parametrize("numerators, denominators, slots, problem", [
    ([1, 2], [3], None, "two lists of one length"),
    ((1,), (3,), None, "two lists of one length"),
    ([2], [4], None, "value 0 is not in lowest terms"),
    ([1, 6], [5, -7], None, "value 1 has a negative denominator"),
    ([1, 1], [3, 0], None, "value 1 has a zero denominator"),
    ([1, "2"], [3, 5], None, "value 1 is not a pair of ints"),
    ([1, 2.0], [3, 5], None, "value 1 is not a pair of ints"),
    ([1], [3], [0, 1], "a slot is not an index below 1"),
    ([1, 2], [3, 4], [0, 0], "value 1 is not in lowest terms"),     # stored, in no slot
])
def test_parameters_decoded_in_c_refuse_what_unpack_refuses(numerators, denominators, slots,
                                                              problem):
    packed = pickle.dumps((wire._TAG, numerators, denominators, slots))
    for decode in (Vector.unpack, Vector.unpack_rational_vector):
        with pytest.raises(bitprop.DamagedBytesError, match=problem):
            decode(packed)


# --- bit for bit on the cluster ------------------------------------------------------------
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(network_and_dataset(max_samples=6), st.integers(1, 4))
def test_grad_equals_single_process_on_random_dags(client, case, shards):
    network_doc, dataset_doc = case
    net, data = bitprop.Network.from_json(network_doc), bitprop.Dataset.from_json(dataset_doc)
    assert_same_grad(distributed.grad(net, data, client=client, shards=shards),
                     bitprop.grad(net, data))


def test_grad_equals_single_process_on_mlp_with_mean_and_weights(client):
    net = random_mlp([5, 7, 7, 3], seed=4)
    base = random_dataset(5, 3, 11, seed=5)
    data = bitprop.Dataset(base.inputs, base.labels, reduction="mean",
                           weights=[Fraction(i % 4, 3) for i in range(11)])
    for shards in (None, 2, 3, 11, 50):
        assert_same_grad(distributed.grad(net, data, client=client, shards=shards),
                         bitprop.grad(net, data))


def test_grad_output_kinds_and_timing(client):
    net, data = random_mlp([3, 4, 2], seed=1), random_dataset(3, 2, 5, seed=1)
    result = distributed.grad(net, data, client=client, output="str")
    assert result.loss == bitprop.grad(net, data, output="str").loss
    assert result.grad_weight == bitprop.grad(net, data, output="str").grad_weight
    assert {"compile", "forward", "backward", "distributed"} <= set(result.timing)


def test_step_equals_single_process(client):
    net, data = random_mlp([4, 6, 6, 2], seed=6), random_dataset(4, 2, 9, seed=7)
    reported = []
    trained, losses = distributed.step(net, data, "1/8", 3, client=client, shards=3,
                                       on_step=lambda i, loss: reported.append((i, loss)))
    expected_net, expected_losses = bitprop.step(net, data, "1/8", 3)
    assert losses == expected_losses
    assert trained.to_json() == expected_net.to_json()
    assert reported == [(i + 1, loss) for i, loss in enumerate(expected_losses[:3])]


def test_step_zero_steps_and_frozen_edges(client):
    doc = random_mlp([3, 4, 1], seed=8).to_json()
    for edge in doc["edges"][::3]:
        edge["trainable"] = False
    net, data = bitprop.Network.from_json(doc), random_dataset(3, 1, 4, seed=9)
    for steps in (0, 2):
        trained, losses = distributed.step(net, data, Fraction(1, 3), steps, client=client)
        expected_net, expected_losses = bitprop.step(net, data, Fraction(1, 3), steps)
        assert (losses, trained.to_json()) == (expected_losses, expected_net.to_json())


def test_bitprop_errors_on_workers_are_raised_once(client):
    net, data = random_mlp([3, 4, 4, 1], seed=2), random_dataset(3, 1, 6, seed=2)
    started = time.monotonic()
    with pytest.raises(bitprop.BitLimitError, match="max_bits=3"):
        distributed.grad(net, data, client=client, max_bits=3)
    with pytest.raises(bitprop.BitLimitError):
        distributed.step(net, data, "1/2", 3, client=client, max_bits=3)
    with pytest.raises(bitprop.BitpropInputError, match="shards"):
        distributed.grad(net, data, client=client, shards=0)
    assert time.monotonic() - started < PATIENCE


class _DamagedVector:
    """Pickles as a RationalVector whose bytes claim 2^40 stored values (issue 21)."""

    def __reduce__(self):
        from bitprop._convert import _from_bytes
        return _from_bytes, (bytes([1, 128, 128, 128, 128, 128, 32, 0]),)


def test_damaged_bytes_fail_the_task_and_the_workers_keep_serving(client):
    pids = set(client.run(os.getpid).values())
    with pytest.raises(bitprop.DamagedBytesError, match="1099511627776 stored values"):
        client.submit(pickle.loads, pickle.dumps(_DamagedVector()), pure=False).result(PATIENCE)
    packed = wire.pack_fractions([Fraction(1, 3)])
    with pytest.raises(bitprop.DamagedBytesError, match="damaged packed vector"):
        client.submit(Vector.unpack, packed[:-3], pure=False).result(PATIENCE)
    assert client.submit(sum, [1, 2], pure=False).result(PATIENCE) == 3
    assert set(client.run(os.getpid).values()) == pids


def test_map_configurations_keeps_order_and_raises_bitprop_errors(client):
    def measure(configuration):
        width, seed = configuration
        net = random_mlp([2, width, 1], seed=seed)
        return str(bitprop.grad(net, random_dataset(2, 1, 3, seed=seed)).loss)

    configurations = [(w, s) for w in (2, 3) for s in range(3)]
    assert distributed.map_configurations(client, measure, configurations) == [
        measure(c) for c in configurations]

    def fails(limit):
        return bitprop.grad(random_mlp([2, 3, 1]), random_dataset(2, 1, 2), max_bits=limit).loss

    with pytest.raises(bitprop.BitLimitError):
        distributed.map_configurations(client, fails, [10 ** 6, 2])


# --- the command line ----------------------------------------------------------------------
def _files(tmp_path):
    net, data = random_mlp([3, 5, 2], seed=11), random_dataset(3, 2, 6, seed=12)
    net.save(tmp_path / "n.json")
    data.save(tmp_path / "d.json")
    return str(tmp_path / "n.json"), str(tmp_path / "d.json")


def _cli_json(capsys, argv):
    assert run(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_cli_dask_address_gives_the_same_json(client, tmp_path, capsys):
    _full_workers(client)
    network, data = _files(tmp_path)
    address = client.scheduler.address
    plain = _cli_json(capsys, ["grad", network, data, "--json"])
    on_dask = _cli_json(capsys, ["grad", network, data, "--json", "--dask", address,
                                 "--shards", "3"])
    assert {k: on_dask[k] for k in ("loss", "grad", "bits")} == {
        k: plain[k] for k in ("loss", "grad", "bits")}
    out1, out2 = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    steps = ["step", network, data, "--lr", "1/4", "--steps", "2", "--json"]
    plain = _cli_json(capsys, steps + ["-o", out1])
    on_dask = _cli_json(capsys, steps + ["-o", out2, "--dask", address])
    assert plain["losses"] == on_dask["losses"]
    assert Path(out1).read_text() == Path(out2).read_text()


def test_cli_bad_dask_options(tmp_path, capsys, monkeypatch):
    network, data = _files(tmp_path)
    for bad in ("local:0", "local:x", ""):
        assert run(["grad", network, data, "--dask", bad]) == 2
        assert "--dask" in capsys.readouterr().err
    assert run(["grad", network, data, "--shards", "2"]) == 2
    assert "--shards needs --dask" in capsys.readouterr().err
    monkeypatch.setattr(distributed.cluster, "CONNECT_TIMEOUT", 1)
    assert run(["grad", network, data, "--dask", "tcp://127.0.0.1:9"]) == 1
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def _python(code, cwd):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=PATIENCE)


def test_without_dask_option_nothing_of_dask_is_imported(tmp_path):
    network, data = _files(tmp_path)
    done = _python(f"""
import sys
from bitprop.cli import run
assert run(['grad', {network!r}, {data!r}, '--json']) == 0
assert run(['step', {network!r}, {data!r}, '--lr', '1/2', '-o', 'x.json', '--json']) == 0
assert run({GROWTH_ARGS!r} + ['-o', 'growth']) == 0
loaded = sorted(m for m in sys.modules
                if m.split('.')[0] in ('dask', 'distributed') or m == 'bitprop.distributed')
print('LOADED', loaded, file=sys.stderr)
""", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr


def test_cli_local_cluster_starts_and_stops(tmp_path):
    network, data = _files(tmp_path)
    plain = _python(f"from bitprop.cli import main; import sys; sys.argv = ['bitprop', 'grad', "
                    f"{network!r}, {data!r}, '--json']; main()", tmp_path)
    local = _python(f"from bitprop.cli import main; import sys; sys.argv = ['bitprop', 'grad', "
                    f"{network!r}, {data!r}, '--json', '--dask', 'local:2']; main()", tmp_path)
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["grad"] == json.loads(plain.stdout)["grad"]
    assert json.loads(local.stdout)["loss"] == json.loads(plain.stdout)["loss"]
    left = [p.pid for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]
    assert not left, f"processes of the local cluster left running: {left}"


def test_sigterm_closes_the_local_cluster_like_ctrl_c(tmp_path):
    """SIGTERM during a --dask local:1 run: exit 143 with one line, the cluster's processes
    gone and no semaphore leaked (the workers' multiprocessing would warn of it)."""
    net = tmp_path / "chain.json"
    bitprop.Network.chain(36, "square", weight=1, bias="1/3").save(net)
    bitprop.Dataset([["3/2"]], [[0]]).save(tmp_path / "d.json")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", "from bitprop.cli import main; import sys; sys.argv = "
         "['bitprop', 'grad', 'chain.json', 'd.json', '--dask', 'local:1']; main()"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + PATIENCE
    while len(psutil.Process(child.pid).children(recursive=True)) < 2:   # nanny and worker
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.2)
    time.sleep(2)                                       # the shard's task is running
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=PATIENCE)
    assert child.returncode == 143, err
    assert err.endswith("bitprop: error: terminated\n") and "leaked" not in err, err
    left = [p.pid for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]
    assert not left, f"processes of the local cluster left running: {left}"


# --- the API's client= and growth sweeps as tasks --------------------------------------------
def test_api_client_keyword_delegates_bit_for_bit(client):
    net, data = random_mlp([4, 5, 5, 2], seed=13), random_dataset(4, 2, 7, seed=14)
    with_client = net.grad(data, client=client)
    assert_same_grad(with_client, bitprop.grad(net, data))
    assert "distributed" in with_client.timing          # it did run on the cluster
    reported = []
    trained, losses = bitprop.step(net, data, "1/8", 2, client=client,
                                   on_step=lambda i, loss: reported.append(i))
    expected_net, expected_losses = net.step(data, "1/8", 2)
    assert (losses, trained.to_json()) == (expected_losses, expected_net.to_json())
    assert reported == [1, 2]


#: relu never stops; square seed 1 stops at depth 2 and seed 0 at depth 3 (max_bits 1030).
GROWTH = dict(activations=("relu", "square"), depths=(1, 2, 3, 4), widths=(3,), seeds=(0, 1),
              max_bits=1030)
GROWTH_ARGS = ["growth", "-a", "relu,square", "--depths", "1-4", "--widths", "3",
               "--seeds", "0,1", "--max-bits", "1030", "--no-plots", "--json"]
TIMING = ("forward_s", "backward_s")


def _growth_config():
    options = dict(GROWTH)
    activations = tuple(growth.parse_activation(a) for a in options.pop("activations"))
    return growth.GrowthConfig(activations, **options)


def _without_timing(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.mark.parametrize("order", ["as finished", "reversed"])
def test_growth_on_dask_gives_the_same_rows_and_stops(client, monkeypatch, order):
    """Rows in the loop's order whatever order the runs finish in (reversed: series-major and
    deepest first, an order Dask may well produce when some series are slower)."""
    if order == "reversed":
        as_finished = distributed.map_series

        def backwards(*args, **options):
            yield from reversed(list(as_finished(*args, **options)))

        monkeypatch.setattr(distributed, "map_series", backwards)
    config = _growth_config()
    # One kernel thread, as on the workers: a stop's message names the vertex where the limit
    # was first seen, which depends on how the kernel threads split the samples.
    expected = growth.sweep(replace(config, threads=1))
    assert [(s.activation, s.seed, s.depth, s.reason) for s in expected.stops] == [
        ("square", 1, 2, "max_bits"), ("square", 0, 3, "max_bits")], "the sweep changed"
    bar = []
    result = growth.sweep(config, lambda done, total, text: bar.append((done, total)),
                          client=client)
    assert _without_timing(result.rows) == _without_timing(expected.rows)
    assert result.stops == expected.stops
    assert not result.interrupted
    assert [done for done, _ in bar] == list(range(1, len(bar) + 1))
    assert bar[-1] == (len(expected.rows) + len(expected.stops),) * 2


def test_growth_on_dask_stops_a_series_without_running_its_next_depth(client, monkeypatch):
    """Only the runs of the single-process loop are submitted: none past a series' stop."""
    config = _growth_config()
    expected = growth.sweep(config)
    submitted, submit = [], distributed.driver._Run.submit

    def recording(run_, function, *args, label):
        if function is distributed.driver.tasks.call_configuration:
            submitted.append(args[1])
        return submit(run_, function, *args, label=label)

    monkeypatch.setattr(distributed.driver._Run, "submit", recording)
    growth.sweep(config, client=client)
    assert sorted((r.label, r.seed, r.depth) for r in submitted) == sorted(
        [(r["activation"], r["seed"], r["depth"]) for r in expected.rows]
        + [(s.activation, s.seed, s.depth) for s in expected.stops])


def test_growth_on_dask_interrupted_keeps_finished_rows_and_releases_the_rest(client):
    config = _growth_config()
    expected = _without_timing(growth.sweep(config).rows)

    def interrupt(done, total, text):
        if done == 5:
            raise KeyboardInterrupt

    result = growth.sweep(config, interrupt, client=client)
    assert result.interrupted
    assert len(result.rows) + len(result.stops) == 5
    assert all(row in expected for row in _without_timing(result.rows))
    deadline = time.monotonic() + PATIENCE
    while _series_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _series_tasks(client), "the interrupted sweep left tasks on the scheduler"


def _series_tasks(client):
    return client.run_on_scheduler(
        lambda dask_scheduler: [k for k in dask_scheduler.tasks if "bitprop-series" in str(k)])


def test_cli_growth_dask_gives_the_same_files(client, tmp_path, capsys):
    _full_workers(client)
    plain = _cli_json(capsys, GROWTH_ARGS + ["-o", str(tmp_path / "plain"), "--threads", "1"])
    on_dask = _cli_json(capsys, GROWTH_ARGS + ["-o", str(tmp_path / "dask"),
                                                "--dask", client.scheduler.address])
    assert _without_timing(on_dask["rows"]) == _without_timing(plain["rows"])
    assert on_dask["stops"] == plain["stops"] and len(plain["stops"]) == 2
    assert on_dask["fits"] == plain["fits"]
    (comments, rows), (dask_comments, dask_rows) = [
        read_csv(tmp_path / name / "growth.csv") for name in ("plain", "dask")]
    assert comments == dask_comments
    assert _without_timing(dask_rows) == _without_timing(rows)
    assert len(rows) == len(plain["rows"]) == 11         # 8 relu, 2 + 1 square


# --- faults (last: they kill workers) ------------------------------------------------------
@pytest.fixture(scope="module")
def heavy():
    """About a second per shard of two samples: long enough to kill a worker in the middle."""
    net = random_mlp([8] * 12, "square", seed=2)
    data = random_dataset(8, 8, 4, seed=3)
    return net, data, bitprop.grad(net, data)


def _kill_when_busy(client, prefix, killed):
    """Kill (SIGKILL) a worker process as soon as it runs a task whose key has ``prefix``."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(key).startswith(prefix) for key in keys) and worker in pids:
                os.kill(pids[worker], signal.SIGKILL)
                killed.append(worker)
                return
        time.sleep(0.01)


def test_worker_killed_during_grad_still_exact(client, heavy):
    _full_workers(client)
    net, data, expected = heavy
    killed = []
    killer = threading.Thread(target=_kill_when_busy, args=(client, "bitprop-grad-", killed))
    killer.start()
    try:
        result = distributed.grad(net, data, client=client, shards=2)
    finally:
        killer.join()
    assert killed, "no worker was killed"
    assert_same_grad(result, expected)


def test_worker_killed_during_step_still_exact(client):
    _full_workers(client)
    net, data = random_mlp([12] * 5, seed=3), random_dataset(12, 12, 16, seed=4)
    pids = client.run(os.getpid)

    def kill_one(i, loss):
        if i == 1:
            os.kill(next(iter(pids.values())), signal.SIGKILL)

    trained, losses = distributed.step(net, data, "1/16", 4, client=client, shards=2,
                                       on_step=kill_one)
    expected_net, expected_losses = bitprop.step(net, data, "1/16", 4)
    assert losses == expected_losses
    assert trained.to_json() == expected_net.to_json()


def test_all_workers_lost_is_a_clear_error_not_a_partial_sum(client, heavy):
    _full_workers(client)
    net, data, _ = heavy
    pids = client.run(os.getpid)

    def kill_all():
        deadline = time.monotonic() + PATIENCE
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in pids.values():
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_all)
    killer.start()
    try:
        with pytest.raises(distributed.DistributedError, match="no partial result"):
            distributed.grad(net, data, client=client, shards=2)
    finally:
        killer.join()
