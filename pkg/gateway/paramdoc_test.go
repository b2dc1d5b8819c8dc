package gateway

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/provider/kinds"
)

// paramDocRow is one row of the README's parameter table: the fields of
// its first column and, per kind column, what the cell says.
type paramDocRow struct {
	line   int
	fields []string
	cells  map[string]string // kind → cell
}

var backticked = regexp.MustCompile("`([^`]+)`")

// readmeParamTable parses the table under "### Parameters across
// providers" in the README: its kind columns ("<kind> target", or
// "<kind> / <kind> target" for kinds sharing one translation, each of which
// is then held to the column) and rows, and the kinds a sentence after it
// says take every field as sent.
func readmeParamTable(t *testing.T) (kinds []string, rows []paramDocRow, passThrough []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, "### Parameters across providers")
	if start < 0 {
		t.Fatal(`README has no "### Parameters across providers" section`)
	}
	cells := func(l string) []string {
		parts := strings.Split(strings.Trim(strings.TrimSpace(l), "|"), "|")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	inTable := false
	var colOf []int // kind index → column
	for i := start + 1; i < len(lines) && !strings.HasPrefix(lines[i], "#"); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "|") && !inTable:
			inTable = true
			for col, h := range cells(l)[1:] {
				names, ok := strings.CutSuffix(h, " target")
				if !ok {
					t.Fatalf("README line %d: column %q is not \"<kind> target\"", i+1, h)
				}
				for _, kind := range strings.Split(names, " / ") {
					kinds = append(kinds, kind)
					colOf = append(colOf, col)
				}
			}
		case strings.HasPrefix(l, "|---"):
		case strings.HasPrefix(l, "|"):
			c := cells(l)
			if want := 2 + colOf[len(colOf)-1]; len(c) != want {
				t.Fatalf("README line %d: %d cells, want %d", i+1, len(c), want)
			}
			row := paramDocRow{line: i + 1, cells: map[string]string{}}
			for _, m := range backticked.FindAllStringSubmatch(c[0], -1) {
				row.fields = append(row.fields, m[1])
			}
			for k, kind := range kinds {
				row.cells[kind] = c[1+colOf[k]]
			}
			rows = append(rows, row)
		case strings.Contains(l, "take every field as sent"):
			for _, m := range backticked.FindAllStringSubmatch(l, -1) {
				passThrough = append(passThrough, m[1])
			}
		}
	}
	return kinds, rows, passThrough
}

// TestREADMEParamTableMatchesAdapters holds the README's parameter table
// to the adapters' own tables (provider.ParamTable), both ways: every
// field an adapter lists is in the README once, in the column of its kind,
// with a cell that starts with what the adapter does with it (and says a
// mapped field is mapped on failover); every field the README lists is in
// the adapter's table; every kind is either a column or said to take every
// field as sent, as its adapter does.
func TestREADMEParamTableMatchesAdapters(t *testing.T) {
	cols, rows, passThrough := readmeParamTable(t)
	if len(rows) == 0 {
		t.Fatal("README parameter table has no rows")
	}
	for _, k := range kinds.All() {
		kind := k.Name
		t.Run(kind, func(t *testing.T) {
			// Every field a kind may need to build offline: a base URL,
			// a key (so no cloud credential chain is consulted), a region
			// and a Vertex project and location. Kinds ignore the rest.
			tc := config.Target{ID: "t", Provider: kind, BaseURL: "http://127.0.0.1:1", Region: "us-east-1", Project: "p", Location: "us-central1"}
			a, err := adapterFor(tc, "sk-test", []string{})
			if err != nil {
				t.Fatal(err)
			}
			pa, hasTable := a.(provider.ParamAdapter)
			column := slices.Contains(cols, kind)
			switch {
			case !hasTable && column:
				t.Fatalf("README has a %q column, but its adapter takes every field as sent", kind)
			case !hasTable && !slices.Contains(passThrough, kind):
				t.Fatalf("README does not say %q targets take every field as sent (it says so of %v)", kind, passThrough)
			case !hasTable:
				return
			case !column:
				t.Fatalf("README's parameter table has no %q column (columns: %v)", kind, cols)
			case slices.Contains(passThrough, kind):
				t.Fatalf("README says %q targets take every field as sent, but its adapter has a table", kind)
			}
			table := pa.Params()
			if table.Kind != kind {
				t.Fatalf("the %s adapter's table is of kind %q", kind, table.Kind)
			}
			documented := map[string]paramDocRow{}
			for _, row := range rows {
				if row.cells[kind] == "" {
					continue
				}
				for _, f := range row.fields {
					if prev, dup := documented[f]; dup {
						t.Errorf("README lines %d and %d both list %s", prev.line, row.line, f)
					}
					documented[f] = row
					if _, ok := table.Lookup(f); !ok {
						t.Errorf("README line %d lists %s for %s targets, which the adapter's table does not", row.line, f, kind)
					}
				}
			}
			for _, p := range table.Params {
				row, ok := documented[p.Name]
				if !ok {
					t.Errorf("the %s adapter's table has %s (%s), which the README's table does not list", kind, p.Name, p.Support)
					continue
				}
				cell := row.cells[kind]
				if !strings.HasPrefix(cell, p.Support.String()) {
					t.Errorf("README line %d: %s is %q, want a cell starting %q", row.line, p.Name, cell, p.Support)
				}
				if p.Map != nil && !strings.Contains(cell, "on failover") {
					t.Errorf("README line %d: %s is mapped on failover, and the cell does not say so: %q", row.line, p.Name, cell)
				}
			}
		})
	}
}
