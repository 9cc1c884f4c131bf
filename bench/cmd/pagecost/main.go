// Command pagecost measures what memory costs this machine when it is
// first used: it maps fresh anonymous memory, writes one byte to each
// page, and prints the time per chunk, then does the same again in memory
// the kernel has just freed. Where memory is cheap the two passes take
// about as long. On a virtual machine whose host backs guest memory
// lazily, or takes back free pages (virtio-balloon free page reporting),
// the first pass can cost ten times more: every page the guest has not
// used lately is a fault in the host. The bench's file-writing steps (tar -xf, a
// tarball import) and its metadata steps (cp -al, mkdir) pay that price
// for each page of cache they fill, which is why a run that fills more
// cache than the host keeps warm grows faster than its work
// (bench/HISTORY.md, eleventh session).
//
//	pagecost -mib 4096 -chunk 256
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	total := flag.Int("mib", 2048, "memory to touch in each pass, MiB")
	chunk := flag.Int("chunk", 256, "MiB per mapping (and per printed time)")
	flag.Parse()
	if *chunk <= 0 || *total < *chunk {
		fmt.Fprintln(os.Stderr, "pagecost: want 0 < -chunk <= -mib")
		os.Exit(2)
	}
	for _, pass := range []string{"first use", "reused"} {
		d, err := touch(*total, *chunk)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pagecost:", err)
			os.Exit(1)
		}
		var sum time.Duration
		fmt.Printf("%-9s:", pass)
		for _, x := range d {
			sum += x
			fmt.Printf(" %.3f", x.Seconds())
		}
		fmt.Printf("  (s per %d MiB; %.2f s per GiB)\n", *chunk, sum.Seconds()*1024/float64(len(d)**chunk))
	}
}

// touch maps total MiB in chunks of chunk MiB, writes a byte to every
// page of each and returns the time each chunk took; it unmaps them all
// at the end, so a second call reuses what the kernel freed.
func touch(total, chunk int) ([]time.Duration, error) {
	page := os.Getpagesize()
	var maps [][]byte
	defer func() {
		for _, m := range maps {
			_ = unix.Munmap(m)
		}
	}()
	var out []time.Duration
	for done := 0; done+chunk <= total; done += chunk {
		m, err := unix.Mmap(-1, 0, chunk<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, fmt.Errorf("mapping %d MiB: %w", chunk, err)
		}
		maps = append(maps, m)
		_ = unix.Madvise(m, unix.MADV_NOHUGEPAGE) // one fault a page, as the page cache takes them
		start := time.Now()
		for i := 0; i < len(m); i += page {
			m[i] = 1
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
