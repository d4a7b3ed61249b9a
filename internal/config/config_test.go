package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	commented := write("commented.conf", "#[MongoDB]\n#server=localhost\n#user=luna\n")
	nopass := write("nopass.conf", "[MongoDB]\nserver=db1:27018\nuser=luna\n")
	full := write("full.conf", "[mongodb]\nServer=db1,db2\nreplicaset=rs0\nauthdb=admin\nuser=luna\npassword=p@ss w/rd\nSSL=Enabled\nCAcert=/etc/ca.pem\n")

	tests := []struct {
		name string
		env  map[string]string
		uri  string
		db   string
	}{
		{"commented out", map[string]string{"LUNA_CONF": commented}, "mongodb://localhost/", "luna"},
		{"no password", map[string]string{"LUNA_CONF": nopass}, "mongodb://db1:27018/", "luna"},
		{"full", map[string]string{"LUNA_CONF": full}, "mongodb://luna:p%40ss%20w%2Frd@db1,db2/admin?replicaSet=rs0&tls=true&tlsCAFile=%2Fetc%2Fca.pem", "luna"},
		{"overrides", map[string]string{"LUNA_CONF": full, "LUNA_MONGO_URI": "mongodb://127.0.0.1:1/", "LUNA_DB": "t1"}, "mongodb://127.0.0.1:1/", "t1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env
			c, err := Load(env(e))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.URI(); got != tc.uri {
				t.Errorf("URI = %q, want %q", got, tc.uri)
			}
			if c.Database != tc.db {
				t.Errorf("Database = %q, want %q", c.Database, tc.db)
			}
		})
	}
}

func TestLoadMissingExplicitFile(t *testing.T) {
	_, err := Load(env(map[string]string{"LUNA_CONF": filepath.Join(t.TempDir(), "nope.conf")}))
	if err == nil {
		t.Fatal("a LUNA_CONF naming a missing file must be an error")
	}
}

func TestDefaults(t *testing.T) {
	c := Defaults()
	if got, want := c.URI(), "mongodb://localhost/"; got != want {
		t.Fatalf("URI = %q, want %q", got, want)
	}
	if c.Database != "luna" {
		t.Fatalf("Database = %q", c.Database)
	}
}

// TestURIRoundTrip builds the URI from a luna.conf and parses it back with
// the MongoDB driver's own parser: the user, password, hosts, auth database,
// replica set and TLS settings must come out as written in the file.
func TestURIRoundTrip(t *testing.T) {
	passwords := []string{"p@ss", "a:b", "s/l/a/s/h", "plus+plus", "100%", "with space", "@:/+% all", "%41", "trailing ", "é€"}
	for _, pw := range passwords {
		for _, user := range []string{"luna", "us er@x:y/z+%"} {
			c := Config{Server: "db1:27018,db2", ReplicaSet: "rs 0", AuthDB: "admin", User: user, Password: pw, SSL: true, CACert: "/etc/pki/luna ca+1.pem", Database: "luna"}
			cs, err := connstring.ParseAndValidate(c.URI())
			if err != nil {
				t.Fatalf("user %q password %q: driver refuses %q: %v", user, pw, c.URI(), err)
			}
			if cs.Username != user || cs.Password != pw {
				t.Errorf("user %q password %q: driver reads user %q password %q from %q", user, pw, cs.Username, cs.Password, c.URI())
			}
			if strings.Join(cs.Hosts, ",") != "db1:27018,db2" || cs.AuthSource != "admin" || cs.ReplicaSet != "rs 0" {
				t.Errorf("driver reads hosts %v authSource %q replicaSet %q", cs.Hosts, cs.AuthSource, cs.ReplicaSet)
			}
			if !cs.SSL || cs.SSLInsecure || cs.SSLCaFile != "/etc/pki/luna ca+1.pem" {
				t.Errorf("driver reads tls %v insecure %v CA %q", cs.SSL, cs.SSLInsecure, cs.SSLCaFile)
			}
		}
	}
}

// TestSSLWithoutCACert: SSL=Enabled without CAcert checks the server against
// the system's roots; certificate checks are never turned off.
func TestSSLWithoutCACert(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ssl.conf")
	if err := os.WriteFile(p, []byte("[MongoDB]\nserver=db1\nSSL=Enabled\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"LUNA_CONF": p}))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := connstring.ParseAndValidate(c.URI())
	if err != nil {
		t.Fatal(err)
	}
	if !cs.SSL || cs.SSLInsecure || cs.SSLCaFileSet || cs.SSLDisableOCSPEndpointCheckSet || strings.Contains(c.URI(), "nsecure") {
		t.Fatalf("URI %q: tls %v insecure %v CA set %v; want TLS with the system roots", c.URI(), cs.SSL, cs.SSLInsecure, cs.SSLCaFileSet)
	}
}

func TestConnectTimeout(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{{"", 5 * time.Second, true}, {"3s", 3 * time.Second, true}, {"1m30s", 90 * time.Second, true}, {"5", 0, false}, {"soon", 0, false}, {"-1s", 0, false}, {"0s", 0, false}} {
		d, err := ConnectTimeout(env(map[string]string{"LUNA_CONNECT_TIMEOUT": tc.v}), 5*time.Second)
		if tc.ok && (err != nil || d != tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.v, d, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "LUNA_CONNECT_TIMEOUT=") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%q: got %v, %v; want a one-line error naming the variable", tc.v, d, err)
		}
	}
}
