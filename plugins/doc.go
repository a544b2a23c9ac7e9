// Package plugins is the SDK of chronik metadata backends: the gRPC service
// that carries the contract of package metadata across a process boundary,
// Serve for plugin authors, and the host side used by the chronik broker.
//
// A backend is a metadata.Backend (see package metadata for the contract)
// run as a hashicorp/go-plugin subprocess speaking gRPC. The wire form is
// the MetadataBackend service of proto/chronik/metadata/v1/metadata.proto
// (generated code in internal/pb; `make generate` regenerates it). Errors
// cross it as gRPC statuses with a google.rpc.ErrorInfo naming the
// sentinel, so errors.Is(err, metadata.ErrFenced) holds on the host exactly
// as it would in process; contexts and deadlines cross with every call.
//
// # Writing a plugin
//
// A plugin is a main package that hands a Factory to Serve:
//
//	func main() {
//		plugins.Serve(plugins.Factory{
//			Name:         "mystore",
//			Version:      "1.0.0",
//			Capabilities: []metadata.Capability{metadata.CapPersistence},
//			New: func(ctx context.Context, cfg metadata.Config) (metadata.Backend, error) {
//				return mystore.Open(ctx, cfg) // cfg.NodeID, cfg.DataDir, cfg.Settings...
//			},
//		})
//	}
//
// Build it as chronik-metadata-mystore and run the conformance suite
// against it (chronik-conformance --plugin ./chronik-metadata-mystore).
// Serve blocks until the host ends the process; it closes the backend on
// the way out. Write logs to stderr (Serve's own logger does, in hclog JSON)
// and never to stdout, which belongs to go-plugin's handshake.
//
// # Hosting a plugin
//
// The chronik broker does this for you (see Load). By hand, with go-plugin:
//
//	pc := plugin.NewClient(&plugin.ClientConfig{
//		HandshakeConfig:  plugins.Handshake,
//		Plugins:          map[string]plugin.Plugin{plugins.PluginName: &plugins.GRPCPlugin{}},
//		Cmd:              exec.Command("./chronik-metadata-mystore"),
//		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
//		AutoMTLS:         true,
//	})
//	defer pc.Kill()
//	rpc, err := pc.Client()
//	raw, err := rpc.Dispense(plugins.PluginName)
//	backend := raw.(*plugins.Client)
//	err = backend.Configure(ctx, metadata.Config{NodeID: "1", DataDir: dir})
//	st, err := backend.Snapshot(ctx)
//
// The first RPC is Configure: before it every call fails with
// metadata.ErrNotConfigured, except Info, which describes the plugin.
//
// # In process
//
// RegisterBackend and RegisterFactory put the same service on any
// grpc.Server, and NewClient speaks it over any connection; tests and the
// memory backend's proxy nodes use them without go-plugin.
package plugins
