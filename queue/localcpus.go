package queue

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LocalCPUs reads this process's CPUs: its affinity (sched_getaffinity),
// the tightest CPU quota of its cgroup and the cgroups above it, in cgroup
// v2 (cpu.max) or v1 (cpu.cfs_quota_us), and the kernel's boot ID. Where a
// source cannot be read, that part is left unknown.
func LocalCPUs() CPUs {
	return CPUs{List: affinity(), Quota: cgroupQuota("/proc/self/cgroup", "/sys/fs/cgroup"),
		Machine: readString("/proc/sys/kernel/random/boot_id")}
}

// cgroupQuota is the tightest CPU quota on the path of the process's
// cgroups, listed in procCgroup, under the mount root; 0 when none.
func cgroupQuota(procCgroup, root string) float64 {
	raw, err := os.ReadFile(procCgroup)
	if err != nil {
		return 0
	}
	best := 0.0
	take := func(q float64) {
		if q > 0 && (best == 0 || q < best) {
			best = q
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || strings.Contains(parts[2], "..") {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			// v2: "max 100000" or "QUOTA PERIOD" in each cgroup on the way.
			for dir := parts[2]; ; dir = filepath.Dir(dir) {
				if f := strings.Fields(readString(filepath.Join(root, dir, "cpu.max"))); len(f) == 2 {
					take(ratio(f[0], f[1]))
				}
				if dir == "/" || dir == "." {
					break
				}
			}
		case hasController(parts[1], "cpu"):
			// v1: the cpu controller's folder is named by its controllers.
			for dir := parts[2]; ; dir = filepath.Dir(dir) {
				base := filepath.Join(root, parts[1], dir)
				take(ratio(readString(filepath.Join(base, "cpu.cfs_quota_us")), readString(filepath.Join(base, "cpu.cfs_period_us"))))
				if dir == "/" || dir == "." {
					break
				}
			}
		}
	}
	return best
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

func readString(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// ratio reads quota/period; "max", -1 or anything unreadable is 0 (none).
func ratio(quota, period string) float64 {
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return q / p
}
