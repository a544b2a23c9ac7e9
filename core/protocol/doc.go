// Package protocol holds the broker's Kafka APIs, one file per API named by
// key (00_produce.go, 03_metadata.go, 18_api_versions.go, ...), the registry
// they register into, and the types handlers see.
//
// # Adding an API
//
// A new file is all it takes. It opens with a short comment (versions
// served, behaviour, version notes) and registers its key, the versions it
// implements and tests, and its handler from init; ApiVersions then
// advertises exactly that range, and the server routes the key to it:
//
//	// Metadata (key 3): versions 0-12. ...
//	func init() { Register(API{Key: 3, MinVersion: 0, MaxVersion: 12, Handle: handleMetadata}) }
//
//	func handleMetadata(ctx context.Context, b *Broker, r *Request) (kmsg.Response, error) {
//		req := r.Body.(*kmsg.MetadataRequest)
//		resp := req.ResponseKind().(*kmsg.MetadataResponse) // version = request's
//		... fill resp from b's dependencies; Kafka errors are kerr codes in resp ...
//		return resp, nil
//	}
//
// Registering a key twice panics at init, so two files cannot claim one API.
//
// # Handler contract
//
// See HandlerFunc: handlers of one connection run one at a time in request
// order; a Kafka error is response data; a Go error closes the connection;
// (nil, nil) means no response (Produce acks=0); r.Defer(wait) answers later
// without blocking the connection (long-polling Fetch, acks=all) while the
// server keeps responses in request order. Dependencies come from the
// *Broker argument, never from package state.
//
// Requests with an unregistered key, or a version outside the registered
// range, never reach a handler: the server closes the connection, as Kafka
// does — except ApiVersions, which answers UNSUPPORTED_VERSION (KIP-511).
package protocol
