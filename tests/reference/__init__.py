"""Independent references the test suite checks bitprop against; never imported by bitprop."""
