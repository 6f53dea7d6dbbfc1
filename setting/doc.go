// Package setting is the small vocabulary that lameduck's modules use to
// describe and check their settings, without depending on how the settings
// are loaded: a size type, and a [Check] that collects every problem of a
// settings struct at once, each with its key, the bad value and what is
// allowed.
//
// Each module owns its settings: a plain struct with yaml tags, a function
// that returns its defaults, and a Validate method that returns nil or an
// [*Error]. The config package loads any such struct from a YAML file and
// LAMEDUCK_* variables; a program that builds its settings in Go calls
// Validate itself.
package setting
