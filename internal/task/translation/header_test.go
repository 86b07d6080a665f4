package translation

import (
	"os"
	"path/filepath"
	"testing"
)

// The first line of a TSV is a header when it names both languages or
// says source and target; a line of language codes that does not is
// reported rather than read as a pair.
func TestHeaderColumns(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		first, src, tgt string
		sc, tc          int
		reported        bool
	}{
		{"en\tes", "en", "es", 1, 2, false},
		{"\ufeffid\tES\t EN \r", "en", "es", 3, 2, false},
		{"source\ttarget", "en", "es", 1, 2, false},
		{"tgt\tsrc", "de", "en", 2, 1, false},
		{"de\ten", "en", "es", 0, 0, true},
		{"pt-BR\tzh_Hant", "en", "es", 0, 0, true},
		{"en\tde", "en", "es", 0, 0, true},
		{"en", "en", "es", 0, 0, false},
		{"Hallo Welt\tHello world", "de", "en", 0, 0, false},
		{"sí\tyes", "es", "en", 0, 0, false},
		{"english\tspanish", "en", "es", 0, 0, false},
	} {
		p := filepath.Join(dir, "h.tsv")
		os.WriteFile(p, []byte(tc.first+"\nuno\tone\n"), 0o644)
		sc, g, fields, _ := headerColumns(p, tc.src, tc.tgt)
		if sc != tc.sc || g != tc.tc || (fields != nil) != tc.reported {
			t.Errorf("%q (%s→%s): columns %d,%d, reported %q; want %d,%d, %v", tc.first, tc.src, tc.tgt, sc, g, fields, tc.sc, tc.tc, tc.reported)
		}
	}
}
