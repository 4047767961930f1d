package queue

// CgroupQuota reads a quota from the given files, for tests.
var CgroupQuota = cgroupQuota
