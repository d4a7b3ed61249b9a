// Package config reads /etc/luna.conf and the environment into the settings
// Luna needs to reach its MongoDB store.
//
// The file is INI with one section, [MongoDB]; its keys (case-insensitive)
// are server, replicaset, authdb, user, password, SSL and CAcert. A missing
// file, section or key means the default, unlike Luna 1.2 which refused to
// start on its own shipped, fully commented-out file.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// DefaultPath is read when LUNA_CONF is not set.
const DefaultPath = "/etc/luna.conf"

// DefaultDatabase is the MongoDB database Luna keeps its objects in.
const DefaultDatabase = "luna"

// Config is what a Luna program needs to open its store.
type Config struct {
	Server     string // host, host:port or a comma-separated list
	ReplicaSet string
	AuthDB     string
	User       string
	Password   string
	SSL        bool
	CACert     string

	// URIOverride is LUNA_MONGO_URI; when set it replaces everything above.
	URIOverride string
	// Database is LUNA_DB or "luna".
	Database string
	// Source names where the settings came from, for error messages.
	Source string
}

// Load reads the file named by LUNA_CONF (or /etc/luna.conf) and applies the
// LUNA_MONGO_URI and LUNA_DB overrides. getenv is os.Getenv in production.
func Load(getenv func(string) string) (Config, error) {
	path := getenv("LUNA_CONF")
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	c, err := LoadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			c = Defaults()
		} else {
			return Config{}, err
		}
	}
	if u := getenv("LUNA_MONGO_URI"); u != "" {
		c.URIOverride = u
		c.Source = "LUNA_MONGO_URI"
	}
	if db := getenv("LUNA_DB"); db != "" {
		c.Database = db
	}
	return c, nil
}

// Defaults is the configuration used when there is no file: localhost, no auth.
func Defaults() Config {
	return Config{Server: "localhost", Database: DefaultDatabase, Source: "defaults"}
}

// LoadFile parses one luna.conf file.
func LoadFile(path string) (Config, error) {
	c := Defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := ini.LoadSources(ini.LoadOptions{Insensitive: true, AllowBooleanKeys: true}, data)
	if err != nil {
		return c, fmt.Errorf("parse %s: %w", path, err)
	}
	c.Source = path
	sec, err := f.GetSection("mongodb")
	if err != nil {
		return c, nil // no [MongoDB] section: defaults
	}
	get := func(key string) string { return strings.TrimSpace(sec.Key(key).String()) }
	if s := get("server"); s != "" {
		c.Server = s
	}
	c.ReplicaSet = get("replicaset")
	c.AuthDB = get("authdb")
	c.User = get("user")
	c.Password = get("password")
	c.SSL = strings.EqualFold(get("ssl"), "enabled")
	c.CACert = get("cacert")
	return c, nil
}

// URI is the mongodb:// connection string for this configuration. The user
// and password are userinfo-escaped (url.UserPassword), so any character,
// `@ : / + %` and spaces included, reaches the server unchanged. SSL=Enabled
// checks the server's certificate against CAcert or, without CAcert, the
// system's roots; it never turns the check off.
func (c Config) URI() string {
	if c.URIOverride != "" {
		return c.URIOverride
	}
	u := url.URL{Scheme: "mongodb", Host: c.Server, Path: "/" + c.AuthDB}
	if c.User != "" && c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	}
	q := url.Values{}
	if c.ReplicaSet != "" {
		q.Set("replicaSet", c.ReplicaSet)
	}
	if c.SSL {
		q.Set("tls", "true")
		if c.CACert != "" {
			q.Set("tlsCAFile", c.CACert)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ConnectTimeout is LUNA_CONNECT_TIMEOUT (a Go duration such as 5s or
// 1m30s), or def when it is not set; a malformed or non-positive value is
// an error naming the variable and the text.
func ConnectTimeout(getenv func(string) string, def time.Duration) (time.Duration, error) {
	v := getenv("LUNA_CONNECT_TIMEOUT")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("LUNA_CONNECT_TIMEOUT=%q is not a positive duration such as 5s or 1m30s", v)
	}
	return d, nil
}

// Target is the server part of the URI without credentials, for messages.
func (c Config) Target() string {
	u, err := url.Parse(c.URI())
	if err != nil || u.Host == "" {
		return c.Server
	}
	return u.Host
}
