// Package snippets holds, in packages CI builds and tests, the Go code that
// the README and the docs show: each Go block in them is a copy of a file
// here, or of a region of one, checked by the root package's
// TestDocSnippets. Edit the code here, then regenerate the docs with
//
//	go test . -run TestDocSnippets -update
package snippets
