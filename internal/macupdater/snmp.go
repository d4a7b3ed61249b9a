package macupdater

import (
	"context"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/clustervision/luna-go/internal/luna"
)

// WalkFunc receives one variable of a walk: its numeric OID with a leading
// dot, and its value. Integers of every SNMP integer type arrive as int64
// (or *big.Int when too large), octet strings as string, anything else as
// gosnmp decodes it. An error stops the walk and is returned by Walk.
type WalkFunc func(oid string, value any) error

// Walker reads an SNMP subtree of a switch.
type Walker interface {
	// Walk calls fn for every variable below oid (numeric, leading dot)
	// on the switch, in OID order.
	Walk(ctx context.Context, target luna.SwitchTarget, oid string, fn WalkFunc) error
}

// SNMPWalker walks over SNMP v2c with GETBULK, the only version Luna 1.2
// speaks to switches (with the switch's read community).
type SNMPWalker struct {
	Port    uint16        // UDP port of the agents; 0 means 161
	Timeout time.Duration // per request; 0 means 2 s
	Retries int           // extra attempts after a timeout
}

// NewSNMPWalker returns the walker the updater uses: port 161, 2 s, 1 retry.
func NewSNMPWalker() *SNMPWalker {
	return &SNMPWalker{Port: 161, Timeout: 2 * time.Second, Retries: 1}
}

// Walk implements Walker.
func (w *SNMPWalker) Walk(ctx context.Context, t luna.SwitchTarget, oid string, fn WalkFunc) error {
	port, timeout := w.Port, w.Timeout
	if port == 0 {
		port = 161
	}
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	g := &gosnmp.GoSNMP{
		Target:    t.IP,
		Port:      port,
		Transport: "udp",
		Community: t.Community,
		Version:   gosnmp.Version2c,
		Context:   ctx,
		Timeout:   timeout,
		Retries:   w.Retries,
		MaxOids:   gosnmp.MaxOids,
	}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Close()
	return g.BulkWalk(oid, func(pdu gosnmp.SnmpPDU) error {
		switch pdu.Type {
		case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
			return nil
		}
		return fn(pdu.Name, pduValue(pdu))
	})
}

// pduValue converts what gosnmp decoded into the forms WalkFunc documents.
func pduValue(pdu gosnmp.SnmpPDU) any {
	switch pdu.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		b := gosnmp.ToBigInt(pdu.Value)
		if b.IsInt64() {
			return b.Int64()
		}
		return b
	case gosnmp.OctetString:
		if v, ok := pdu.Value.([]byte); ok {
			return string(v)
		}
	}
	return pdu.Value
}
