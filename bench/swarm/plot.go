package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotTable draws T against N for every client of a result table (the
// rows run prints, `| client | N | T | floor | ...`) and the floor to a PNG.
func plotTable(table, png, title string) error {
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	defer f.Close()
	series := map[string]plotter.XYs{}
	var order []string
	add := func(name string, n, v float64) {
		if _, ok := series[name]; !ok {
			order = append(order, name)
		}
		series[name] = append(series[name], plotter.XY{X: n, Y: v})
	}
	floorSeen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "|")
		if len(c) < 6 {
			continue
		}
		client := strings.TrimSpace(c[1])
		n, err1 := strconv.ParseFloat(strings.TrimSpace(c[2]), 64)
		t, err2 := strconv.ParseFloat(strings.TrimSpace(c[3]), 64)
		fl, err3 := strconv.ParseFloat(strings.TrimSpace(c[4]), 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		add(client, n, t)
		// Every row's floor is the P2P one (Kumar-Ross), HTTP's too.
		if k := fmt.Sprint(n); !floorSeen[k] {
			floorSeen[k] = true
			add("floor (Kumar-Ross)", n, fl)
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("%s: no result rows", table)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "nodes N"
	p.Y.Label.Text = "time until every node has the image (s)"
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	var args []any
	for _, name := range order {
		args = append(args, name, series[name])
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return err
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, png)
}
