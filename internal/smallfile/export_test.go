package smallfile

// UseOpenat2 turns ReadBeneath's openat2 on or off (off: the
// component-by-component walk of older kernels) and returns the old state.
func UseOpenat2(on bool) (was bool) { return !noOpenat2.Swap(!on) }
