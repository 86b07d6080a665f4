package plot

import (
	"math"
	"testing"
	"time"
)

// Non-finite points, and non-positive ones on a log axis, are left out
// and counted; charts with nothing left to draw still save, and never
// hang.
func TestNonFinitePointsDropped(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name    string
		chart   LineChart
		dropped int
	}{
		{"nan curve", LineChart{Series: []Series{{X: []float64{1, 2, 3}, Y: []float64{2, nan, nan}}, {X: []float64{1, 2}, Y: []float64{3, 1}}},
			HLines: []HLine{{Y: 2.5, Label: "h"}}}, 2},
		{"all nan", LineChart{Series: []Series{{X: []float64{1, 2}, Y: []float64{nan, nan}}}, HLines: []HLine{{Y: 2.5}}}, 2},
		{"inf", LineChart{Series: []Series{{X: []float64{1, 2, 3}, Y: []float64{inf, -inf, 1e308}, Points: true}}}, 2},
		{"log zero", LineChart{LogX: true, LogY: true, XTicks: []float64{0, 1, 2, 4}, Series: []Series{{X: []float64{1, 2, 4}, Y: []float64{0, inf, 3},
			YErr: []float64{1, 1, nan}, Points: true}}}, 2},
		{"log all zero", LineChart{LogY: true, Series: []Series{{X: []float64{1, 2}, Y: []float64{0, 0}}}, HLines: []HLine{{Y: 0}}}, 2},
		{"log one x below 1", LineChart{LogX: true, XTicks: []float64{0.003, 1e9}, Series: []Series{{X: []float64{0.003, 1e9}, Y: []float64{2, nan}, Points: true}}}, 1},
		{"log one y below 1", LineChart{LogY: true, Series: []Series{{X: []float64{1, 2}, Y: []float64{0.5, 0.5}}}}, 0},
		{"huge", LineChart{Series: []Series{{X: []float64{0, 1}, Y: []float64{-math.MaxFloat64, math.MaxFloat64}}}}, 0},
	} {
		done := make(chan error, 1)
		ch := c.chart
		go func() {
			_, err := ch.Save(t.TempDir(), "c")
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			if ch.Dropped != c.dropped {
				t.Errorf("%s: Dropped = %d, want %d", c.name, ch.Dropped, c.dropped)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Save still running after 30s", c.name)
		}
	}
}
