package plot

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestSave(t *testing.T) {
	dir := t.TempDir()
	c := &LineChart{Title: "t", XLabel: "x", YLabel: "y", LogX: true, LogY: true, XTicks: []float64{1, 2, 4},
		Series: []Series{{Label: "a", X: []float64{1, 2, 4}, Y: []float64{1, 2, math.NaN()}, YErr: []float64{0.1, 0.2, 0}, Points: true},
			{Label: "b", X: []float64{1, 2, 4}, Y: []float64{2, 3, 5}, Color: 1, Dash: 1}},
		HLines: []HLine{{Y: 1.5, Label: "ref"}}}
	names, err := c.Save(dir, "line")
	if err != nil {
		t.Fatal(err)
	}
	hm := &HeatMap{Title: "h", Z: [][]float64{{1, math.NaN()}, {0.5, 0.5}}, RowLabels: []string{"r0", "r1"}, ColLabels: []string{"c0", "c1"}, Max: 1}
	n2, err := hm.Save(dir, "heat")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(names, n2...) {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.Size() < 500 {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := (&HeatMap{}).Save(dir, "empty"); err == nil {
		t.Error("empty heat map saved")
	}
}
