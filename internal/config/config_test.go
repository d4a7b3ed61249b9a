package config

import (
	"os"
	"path/filepath"
	"testing"
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
		{"full", map[string]string{"LUNA_CONF": full}, "mongodb://luna:p%40ss+w%2Frd@db1,db2/admin?replicaSet=rs0&tls=true&tlsCAFile=%2Fetc%2Fca.pem", "luna"},
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
