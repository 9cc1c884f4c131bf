package fsmove

// crashHook, when set (only by this package's tests, in a child process),
// is called at each step after which a kill must leave the storage sound;
// the crash tests kill the process there.
var crashHook func(step string)

func crashPoint(step string) {
	if crashHook != nil {
		crashHook(step)
	}
}
