package etcdmeta_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	etcdmeta "github.com/chronik-go/chronik/metadata-etcd"
	"github.com/chronik-go/chronik/metadata-etcd/internal/etcdtest"
	"github.com/chronik-go/chronik/plugins/metadata"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir, as PEM files.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chronik test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der, kder
	}
	sc, sk := leaf(2, "etcd", x509.ExtKeyUsageServerAuth)
	cc, ck := leaf(3, "chronik", x509.ExtKeyUsageClientAuth)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", sc),
		serverKey:  write("server-key.pem", "EC PRIVATE KEY", sk),
		clientCert: write("client.pem", "CERTIFICATE", cc),
		clientKey:  write("client-key.pem", "EC PRIVATE KEY", ck),
	}
}

// TestTLSAndAuth: etcd with client certificates required and auth
// enabled; the backend connects with the CA, a client certificate and a
// user limited to its prefix.
func TestTLSAndAuth(t *testing.T) {
	p := newPKI(t)
	ec := etcdtest.Start(t, etcdtest.Options{Members: 1, Configure: func(_ int, cfg *embed.Config) {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: p.serverCert, KeyFile: p.serverKey, TrustedCAFile: p.ca, ClientCertAuth: true}
		for i := range cfg.ListenClientUrls {
			cfg.ListenClientUrls[i].Scheme = "https"
		}
		for i := range cfg.AdvertiseClientUrls {
			cfg.AdvertiseClientUrls[i].Scheme = "https"
		}
	}})
	ep := "https://" + ec.Endpoint(0)
	ctx := ctxFor(t, time.Minute)

	// Enable auth: root, and a user that may use /secure/ only.
	tlsInfo := transport.TLSInfo{CertFile: p.clientCert, KeyFile: p.clientKey, TrustedCAFile: p.ca}
	tc, err := tlsInfo.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, step := range []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "chronik"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "chronik", "/secure/", clientv3.GetPrefixRangeEnd("/secure/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "chronik", "chronik-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "chronik", "chronik"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enabling auth: %v", err)
		}
	}

	secure := func(prefix, password string) func(*etcdmeta.Config) {
		return func(c *etcdmeta.Config) {
			c.CAFile, c.CertFile, c.KeyFile = p.ca, p.clientCert, p.clientKey
			c.Username, c.Password = "chronik", password
			c.Prefix = prefix
			// Authenticating takes long under the race detector (bcrypt),
			// and longer on a loaded machine: a 2 s request timeout failed
			// a heartbeat in CI.
			c.RequestTimeout = 5 * time.Second
			c.SessionTimeout = 5 * time.Second
		}
	}
	b := newBackend(t, []string{ep}, "", secure("/secure/", "chronik-pw"))
	s0, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, b, s0.Revision)
	br, err := b.RegisterBroker(ctx, reg(1, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Heartbeat(ctx, br.ID, br.Epoch); err != nil {
		t.Fatal(err)
	}
	tp, err := b.CreateTopic(ctx, spec("over-tls", 3))
	if err != nil {
		t.Fatal(err)
	}
	w.until(tp.CreatedAt, 10*time.Second)
	// The session expires and the fencer, with the same credentials, fences.
	eventually(t, 15*time.Second, "fence over TLS with auth", func() error {
		if evs, _ := w.events(isFence(br.ID)); len(evs) == 0 {
			return errors.New("not yet")
		}
		return nil
	})

	// Outside its permissions: refused, not retried until the deadline.
	other := newBackend(t, []string{ep}, "", secure("/other/", "chronik-pw"))
	if _, err := other.Info(ctx); err != nil { // connected and authenticated
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := other.CreateTopic(ctx, spec("x", 1)); !errors.Is(err, metadata.ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("CreateTopic outside the user's permissions: %v, want ErrUnavailable saying permission denied", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("a permission error took %v (retried?)", took)
	}
	// Wrong password: the node starts, its calls fail saying why (once
	// its first connect, which authenticates, has failed).
	wrong := newBackend(t, []string{ep}, "", secure("/secure/", "wrong"))
	eventually(t, 15*time.Second, "a call with a wrong password saying why it failed", func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := wrong.Snapshot(cctx)
		if !errors.Is(err, metadata.ErrUnavailable) {
			t.Fatalf("Snapshot with a wrong password: %v, want ErrUnavailable", err)
		}
		if !strings.Contains(err.Error(), "authentication failed") {
			return err
		}
		return nil
	})
	// No client certificate: the TLS handshake fails.
	nocert := newBackend(t, []string{ep}, "", func(c *etcdmeta.Config) {
		c.CAFile, c.Username, c.Password, c.Prefix = p.ca, "chronik", "chronik-pw", "/secure/"
	})
	nctx, ncancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer ncancel()
	if _, err := nocert.Snapshot(nctx); !errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Snapshot without a client certificate: %v, want ErrUnavailable", err)
	}
}
