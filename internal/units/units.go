// Package units formats and parses quantities for people.
package units

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes formats n in binary units: "512 B", "1.5 KiB", "912.0 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ParseBytes reads a size such as "192MiB", "1.5GiB", "512KiB", "1GB" or
// "1048576" (bytes). KiB/MiB/GiB/TiB (and K/M/G/T) are powers of 1024,
// kB/MB/GB/TB powers of 1000; case is ignored, spaces are allowed.
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	mult, ok := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	}[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number and a unit such as 192MiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number and a unit such as 192MiB", s)
	}
	if f*mult >= 1<<63 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(f * mult), nil
}
