// Temporary profiling harness (removed after use).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/clustervision/luna-go/internal/cli"
	"github.com/clustervision/luna-go/internal/embeddb"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	ctx := context.Background()
	dir := "/tmp/lbench-prof"
	srv, err := embeddb.Start(ctx, embeddb.Config{Listen: "127.0.0.1:0", DataDir: dir + "/db"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	os.WriteFile(dir+"/luna.conf", nil, 0o644)
	vars := map[string]string{"LUNA_MONGO_URI": srv.URI(), "LUNA_DB": "luna", "LUNA_CONF": dir + "/luna.conf", "LUNA_LOGDIR": dir + "/log"}
	getenv := func(k string) string { return vars[k] }
	luna := func(args ...string) (string, time.Duration) {
		var out, e bytes.Buffer
		t := time.Now()
		if c := cli.Main(ctx, args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &e, Getenv: getenv}); c != 0 {
			panic(fmt.Sprint(args, e.String()))
		}
		return out.String(), time.Since(t)
	}
	client, _ := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	coll := client.Database("luna").Collection("node")
	n, _ := coll.CountDocuments(ctx, bson.M{})
	if n == 0 {
		img := dir + "/img"
		os.MkdirAll(img+"/lib/modules/5.10.0-9-amd64", 0o755)
		os.MkdirAll(img+"/boot", 0o755)
		os.MkdirAll(dir+"/opt", 0o755)
		os.WriteFile(img+"/boot/vmlinuz-5.10.0-9-amd64", []byte("k"), 0o644)
		for _, s := range [][]string{
			{"cluster", "init", "--frontend_address", "10.30.255.254", "--user", "root", "--path", dir + "/opt"},
			{"network", "add", "-n", "cluster", "-N", "10.30.0.0", "-P", "16"},
			{"network", "add", "-n", "ipmi", "-N", "10.31.0.0", "-P", "16"},
			{"osimage", "add", "-n", "compute", "-p", img},
			{"bmcsetup", "add", "-n", "base"},
			{"group", "add", "-n", "compute", "-o", "compute", "-N", "cluster", "-b", "base"},
			{"group", "change", "compute", "-i", "BMC", "--add"},
			{"group", "change", "compute", "-i", "BMC", "--setnet", "ipmi"},
		} {
			luna(s...)
		}
		for i := 1; i <= 10000; i += 1000 {
			_, d := luna("node", "add", "-g", "compute", "-n", fmt.Sprintf("node[%05d-%05d]", i, i+999))
			fmt.Println("add", d)
		}
	}
	what := os.Args[1]
	if what == "cpu" {
		for _, args := range [][]string{{"node", "list"}, {"node", "list", "-o", "json"}, {"node", "show", "node05000"}, {"node", "list", "-g", "compute"}} {
			var cpus, walls []time.Duration
			var out string
			for r := 0; r < 9; r++ {
				c0, w0 := cpu(), time.Now()
				out, _ = luna(args...)
				cpus = append(cpus, cpu()-c0)
				walls = append(walls, time.Since(w0))
			}
			sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
			sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
			fmt.Printf("%-22s cpu min %v med %v  wall min %v med %v  out %x\n", strings.Join(args, " "), cpus[0], cpus[4], walls[0], walls[4], sha256.Sum256([]byte(out)))
		}
		return
	}
	if what == "queries" {
		db := client.Database("luna")
		type q struct {
			name   string
			coll   string
			filter bson.M
			opts   *options.FindOptionsBuilder
		}
		qs := []q{
			{"node all", "node", bson.M{}, options.Find()},
			{"node sort name", "node", bson.M{}, options.Find().SetSort(bson.D{{Key: "name", Value: 1}})},
			{"ipaddr all", "ipaddr", bson.M{}, options.Find()},
			{"ipaddr kind=node", "ipaddr", bson.M{"kind": "node"}, options.Find()},
			{"ipaddr kind=node sorted", "ipaddr", bson.M{"kind": "node"}, options.Find().SetSort(bson.D{{Key: "network", Value: 1}, {Key: "offset", Value: 1}})},
			{"ipaddr kind=node proj", "ipaddr", bson.M{"kind": "node"}, options.Find().SetProjection(bson.M{"network": 1, "offset": 1, "owner": 1, "iface": 1, "_id": 0})},
			{"ipaddr all proj", "ipaddr", bson.M{}, options.Find().SetProjection(bson.M{"network": 1, "offset": 1, "owner": 1, "iface": 1, "_id": 0})},
			{"node findone", "node", bson.M{"name": "node05000"}, options.Find().SetLimit(1)},
			{"ipaddr owner", "ipaddr", bson.M{"owner": bson.M{"$in": bson.A{bson.NewObjectID()}}}, options.Find()},
		}
		best := map[string]time.Duration{}
		for r := 0; r < 7; r++ {
			for _, x := range qs {
				t := cpu()
				cur, err := db.Collection(x.coll).Find(ctx, x.filter, x.opts)
				if err != nil {
					panic(err)
				}
				var docs []bson.M
				cur.All(ctx, &docs)
				d := cpu() - t
				if b, ok := best[x.name]; !ok || d < b {
					best[x.name] = d
				}
				_ = docs
			}
		}
		for _, x := range qs {
			fmt.Printf("%-28s min %v\n", x.name, best[x.name])
		}
		return
	}
	reps := 5
	f, _ := os.Create("/tmp/lbench-" + what + ".prof")
	pprof.StartCPUProfile(f)
	for i := 0; i < reps; i++ {
		t := time.Now()
		switch what {
		case "list":
			luna("node", "list")
		case "show":
			luna("node", "show", "node05000")
		case "raw":
			cur, _ := coll.Find(ctx, bson.M{})
			var docs []bson.M
			cur.All(ctx, &docs)
		}
		fmt.Println(what, time.Since(t))
	}
	pprof.StopCPUProfile()
	f.Close()
}
