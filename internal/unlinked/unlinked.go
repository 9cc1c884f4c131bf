// Package unlinked makes temporary files that have no name: their space is
// freed when they are closed, however the program ends.
package unlinked

import "os"

// Create creates a temporary file in dir ("" for the system's, as
// os.CreateTemp) and removes its name at once.
func Create(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
