package units

import "testing"

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {956301312, "912.0 MiB"}, {1 << 40, "1.0 TiB"}, {-1, "-1 B"}} {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"0", 0}, {"1048576", 1 << 20}, {"192MiB", 192 << 20}, {"192 mib", 192 << 20}, {"1.5GiB", 3 << 29}, {"512K", 512 << 10},
		{"1GB", 1e9}, {"2 kB", 2000}, {"10b", 10}, {" 1T ", 1 << 40}} {
		got, err := ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1MiB", "1 XB", "1.2.3MiB", "12 MiB s", "9999999TiB"} {
		if got, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", bad, got)
		}
	}
}
