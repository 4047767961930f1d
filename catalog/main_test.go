package catalog_test

import (
	"testing"

	"github.com/reel-video/reel/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
