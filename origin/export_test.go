package origin

// Loopback, Unsigned and SetUnsigned let the external tests (which use
// internal/testenv, itself built on this package) reach what they check.
var Loopback = loopback

func (s *S3) Unsigned() bool { return s.unsigned }

func (s *S3) SetUnsigned(unsigned bool) { s.unsigned = unsigned }
