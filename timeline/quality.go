package timeline

import "math"

// QualityStats are the sums behind a rendition's PSNR and SSIM, kept per
// chunk so that chunks (and retried chunks) combine exactly.
type QualityStats struct {
	Frames int64 `json:"frames"`
	// MSESum is the sum over frames of the mean squared error of Y, U and
	// V weighted by plane size (ffmpeg psnr's mse_avg).
	MSESum float64 `json:"mse_sum"`
	// SSIMSum is the sum over frames of the SSIM of Y (ffmpeg ssim's
	// "Y", x264's "SSIM Y"), as encoders and most tools report SSIM.
	SSIMSum float64 `json:"ssim_sum"`
}

// Add returns the combined stats of s and o.
func (s QualityStats) Add(o QualityStats) QualityStats {
	return QualityStats{Frames: s.Frames + o.Frames, MSESum: s.MSESum + o.MSESum, SSIMSum: s.SSIMSum + o.SSIMSum}
}

// maxPSNR stands for identical pictures, whose PSNR is infinite.
const maxPSNR = 100

// PSNR is 10·log10(255² / mean MSE) in dB over all frames: the PSNR of the
// whole sequence, as ffmpeg's psnr filter prints it, capped at 100 dB.
func (s QualityStats) PSNR() float64 {
	if s.Frames == 0 {
		return 0
	}
	mse := s.MSESum / float64(s.Frames)
	if mse <= 0 {
		return maxPSNR
	}
	return math.Min(10*math.Log10(255*255/mse), maxPSNR)
}

// SSIM is the mean per-frame SSIM of Y.
func (s QualityStats) SSIM() float64 {
	if s.Frames == 0 {
		return 0
	}
	return s.SSIMSum / float64(s.Frames)
}
