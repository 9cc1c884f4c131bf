// Package cmd holds harbor-import's cobra commands: flags are bound to an
// options struct, validated, and handed to package importer. No import
// logic lives here.
package cmd
