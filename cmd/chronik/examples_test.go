package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConfigPathsRelativeToFile: relative paths a config file sets are
// relative to the file's directory, whatever the working directory; the
// same paths given as flags or environment variables stay relative to the
// working directory.
func TestConfigPathsRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf", "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "conf", "node.yaml")
	if err := os.WriteFile(file, []byte("data-dir: data/node1\nplugin-dir: plugins\nmetadata: ./chronik-metadata-x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "conf")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"from the file", nil, nil, []string{"data-dir: " + abs + "/data/node1", "plugin-dir: " + abs + "/plugins", "metadata: " + abs + "/chronik-metadata-x"}},
		{"flag", nil, []string{"--data-dir", "rel/by-flag"}, []string{"data-dir: rel/by-flag", "plugin-dir: " + abs + "/plugins"}},
		{"env", map[string]string{"CHRONIK_DATA_DIR": "rel/by-env"}, nil, []string{"data-dir: rel/by-env"}},
		{"absolute", nil, []string{"--metadata", "raft", "--data-dir", "/abs/dir"}, []string{"data-dir: /abs/dir", "metadata: raft"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// A relative --config from another working directory.
			t.Chdir(dir)
			out, err := runChronik(t, append([]string{"config", "--config", "conf/node.yaml"}, tc.args...)...)
			if err != nil {
				t.Fatalf("chronik config: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// exampleNode is one node of an example cluster, started from its config
// file the way the README says.
type exampleNode struct {
	id         int32
	config     string
	kafka      string
	http       string
	proc       *chronikProc
	clusterDir string
}

// copyExample copies examples/<name>/node{1,2,3}.yaml into a temp dir with
// every 127.0.0.1 port rewritten to a free one, consistently across the
// three files (the peers lists name each other's ports), and etcd's
// 127.0.0.1:2379 to etcd (when not empty).
func copyExample(t *testing.T, name, etcd string) (dir string, nodes []*exampleNode) {
	t.Helper()
	dir = t.TempDir()
	portRe := regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	ports := map[string]string{}
	for n := int32(1); n <= 3; n++ {
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", name, fmt.Sprintf("node%d.yaml", n)))
		if err != nil {
			t.Fatal(err)
		}
		out := portRe.ReplaceAllStringFunc(string(src), func(m string) string {
			if m == "127.0.0.1:2379" && etcd != "" {
				return etcd
			}
			if _, ok := ports[m]; !ok {
				ports[m] = freePort(t)
			}
			return ports[m]
		})
		cfg := filepath.Join(dir, fmt.Sprintf("node%d.yaml", n))
		if err := os.WriteFile(cfg, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		nd := &exampleNode{id: n, config: cfg, clusterDir: dir}
		nd.kafka = yamlValue(t, out, "listen")
		nd.http = yamlValue(t, out, "http")
		nodes = append(nodes, nd)
	}
	return dir, nodes
}

// yamlValue returns the value of a top-level "key: value" line.
func yamlValue(t *testing.T, doc, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:\s*(\S+)`).FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("no %s in\n%s", key, doc)
	}
	return m[1]
}

// start runs `chronik --config nodeN.yaml` from cwd.
func (nd *exampleNode) start(t *testing.T, cwd string, extra ...string) {
	t.Helper()
	p := &chronikProc{kafka: nd.kafka, http: nd.http, out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(chronikBinary, append([]string{"--config", nd.config}, extra...)...)
	p.cmd.Dir = cwd
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("node %d output:\n%s", nd.id, p.out.String())
		}
	})
	nd.proc = p
}

// TestRaftExample starts examples/cluster-raft as the README says (one
// `chronik --config examples/cluster-raft/nodeN.yaml` per node, here from
// an unrelated working directory, ports rewritten to free ones) and checks
// that every node lists all three brokers at their configured addresses,
// that the data dirs are next to the config files, and that `chronik
// cluster status --config nodeN.yaml` reports the cluster.
func TestRaftExample(t *testing.T) {
	testExample(t, "cluster-raft", "")
}

// TestEtcdExample is TestRaftExample for examples/cluster-etcd, with a real
// etcd in place of the one at 127.0.0.1:2379.
func TestEtcdExample(t *testing.T) {
	testExample(t, "cluster-etcd", startEtcd(t))
}

func testExample(t *testing.T, name, etcd string) {
	dir, nodes := copyExample(t, name, etcd)
	cwd := t.TempDir()
	for _, nd := range nodes {
		nd.start(t, cwd)
	}
	for _, nd := range nodes {
		nd.proc.waitReady(t)
	}
	want := map[int32]string{}
	var cns []*clusterNode
	for _, nd := range nodes {
		want[nd.id] = nd.kafka
		cns = append(cns, &clusterNode{id: nd.id, kafka: nd.kafka})
	}
	waitListsBrokers(t, cns, want)
	for _, nd := range nodes {
		if _, err := os.Stat(filepath.Join(dir, "data", fmt.Sprintf("node%d", nd.id), "metadata")); err != nil {
			t.Errorf("node %d: no data dir next to its config: %v", nd.id, err)
		}
	}
	if ents, err := os.ReadDir(cwd); err != nil || len(ents) != 0 {
		t.Errorf("the brokers wrote into their working directory: %v %v", ents, err)
	}

	out, err := exec.Command(chronikBinary, "cluster", "status", "--config", nodes[1].config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 live of 3 registered") {
		t.Fatalf("chronik cluster status --config node2.yaml: %v\n%s", err, out)
	}
	for _, nd := range slices.Backward(nodes) {
		nd.proc.stop(t)
	}
}
