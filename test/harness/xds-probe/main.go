// xds-probe poses as an Envoy proxy (a sidecar or a gateway) and asks istiod for the configuration it would serve
// that proxy, over plaintext ADS on loopback, the way a real proxy does: CDS, then EDS for the clusters it names, LDS,
// then RDS for the route configurations the listeners name, ACKing every response. It prints the configuration as
// JSON (protojson, Envoy field names): {"listeners":[...],"routes":[...],"clusters":[...],"endpoints":[...]}.
//
// One-shot (default): prints once the configuration is complete and istiod has been quiet for --quiet, so a push
// already queued when the probe connected is included. --watch: prints one line per complete state after every
// response, with a sequence number and time, until stdin closes (to follow istiod's pushes during a change).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	// Registers the Envoy and Istio extension types that istiod puts in Any fields, so they print as JSON.
	_ "istio.io/istio/pkg/config/xds"
)

const (
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

type options struct {
	addr, kind, namespace, name, ip, labels, clusterID, version string
	timeout, quiet                                              time.Duration
	watch                                                       bool
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:15010", "istiod's plaintext gRPC (ADS) address")
	flag.StringVar(&o.kind, "kind", "sidecar", "sidecar or router (a gateway)")
	flag.StringVar(&o.namespace, "namespace", "default", "the proxy's namespace")
	flag.StringVar(&o.name, "name", "probe", "the proxy's pod name")
	flag.StringVar(&o.ip, "ip", "10.255.0.1", "the proxy's IP (an address no pod has, so istiod takes the labels from metadata)")
	flag.StringVar(&o.labels, "labels", "{}", "the proxy's pod labels, as a JSON object")
	flag.StringVar(&o.clusterID, "cluster-id", "Kubernetes", "istiod's --clusterID")
	flag.StringVar(&o.version, "istio-version", "1.31.0", "ISTIO_VERSION the proxy announces")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "give up when the configuration is not complete by then")
	flag.DurationVar(&o.quiet, "quiet", 400*time.Millisecond, "one-shot: print after istiod has sent nothing for this long")
	flag.BoolVar(&o.watch, "watch", false, "print a line per complete state until stdin closes")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "xds-probe:", err)
		os.Exit(1)
	}
}

func node(o options) (*core.Node, error) {
	labels := map[string]any{}
	if err := json.Unmarshal([]byte(o.labels), &labels); err != nil {
		return nil, fmt.Errorf("--labels: %w", err)
	}
	meta, err := structpb.NewStruct(map[string]any{
		"NAMESPACE":         o.namespace,
		"LABELS":            labels,
		"CLUSTER_ID":        o.clusterID,
		"ISTIO_VERSION":     o.version,
		"INSTANCE_IPS":      o.ip,
		"INTERCEPTION_MODE": "REDIRECT",
		"MESH_ID":           "cluster.local",
		"WORKLOAD_NAME":     o.name,
		"SERVICE_ACCOUNT":   "default",
		"NODE_NAME":         "kwok-node-0",
	})
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", o.kind, o.ip, o.name, o.namespace, o.namespace)
	return &core.Node{Id: id, Metadata: meta}, nil
}

// state is what the proxy holds: the last resources of each type, by name.
type state struct {
	clusters  map[string]*cluster.Cluster
	endpoints map[string]*endpoint.ClusterLoadAssignment
	listeners map[string]*listener.Listener
	routes    map[string]*route.RouteConfiguration
	received  map[string]bool
}

func newState() *state {
	return &state{
		clusters:  map[string]*cluster.Cluster{},
		endpoints: map[string]*endpoint.ClusterLoadAssignment{},
		listeners: map[string]*listener.Listener{},
		routes:    map[string]*route.RouteConfiguration{},
		received:  map[string]bool{},
	}
}

// edsNames are the EDS resource names the clusters ask for.
func (s *state) edsNames() []string {
	var names []string
	for name, c := range s.clusters {
		if c.GetType() != cluster.Cluster_EDS {
			continue
		}
		if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
			names = append(names, n)
		} else {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// rdsNames are the route configurations the listeners' HTTP connection managers name.
func (s *state) rdsNames() []string {
	set := map[string]bool{}
	for _, l := range s.listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetTypedConfig().GetTypeUrl() != "type.googleapis.com/"+string((&hcm.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName()) {
					continue
				}
				m := &hcm.HttpConnectionManager{}
				if err := f.GetTypedConfig().UnmarshalTo(m); err == nil && m.GetRds().GetRouteConfigName() != "" {
					set[m.GetRds().GetRouteConfigName()] = true
				}
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// complete: every type answered and every named route configuration and endpoint set present. istiod may leave out
// an EDS resource for a cluster without endpoints, so only route configurations are required by name.
func (s *state) complete() bool {
	if !s.received[typeCluster] || !s.received[typeListener] {
		return false
	}
	if len(s.edsNames()) > 0 && !s.received[typeEndpoint] {
		return false
	}
	for _, n := range s.rdsNames() {
		if _, ok := s.routes[n]; !ok {
			return false
		}
	}
	return true
}

// apply takes a state-of-the-world response the way Envoy does: CDS and LDS responses replace every resource of their
// type; EDS and RDS responses update the resources they carry (istiod sends only changed endpoints), and a resource
// no cluster or listener names any more is dropped.
func (s *state) apply(resp *discovery.DiscoveryResponse) error {
	s.received[resp.GetTypeUrl()] = true
	switch resp.GetTypeUrl() {
	case typeCluster:
		s.clusters = map[string]*cluster.Cluster{}
		for _, r := range resp.GetResources() {
			m := &cluster.Cluster{}
			if err := r.UnmarshalTo(m); err != nil {
				return err
			}
			s.clusters[m.GetName()] = m
		}
	case typeListener:
		s.listeners = map[string]*listener.Listener{}
		for _, r := range resp.GetResources() {
			m := &listener.Listener{}
			if err := r.UnmarshalTo(m); err != nil {
				return err
			}
			s.listeners[m.GetName()] = m
		}
	case typeEndpoint:
		for _, r := range resp.GetResources() {
			m := &endpoint.ClusterLoadAssignment{}
			if err := r.UnmarshalTo(m); err != nil {
				return err
			}
			s.endpoints[m.GetClusterName()] = m
		}
	case typeRoute:
		for _, r := range resp.GetResources() {
			m := &route.RouteConfiguration{}
			if err := r.UnmarshalTo(m); err != nil {
				return err
			}
			s.routes[m.GetName()] = m
		}
	}
	prune(s.endpoints, s.edsNames())
	prune(s.routes, s.rdsNames())
	return nil
}

func prune[T any](m map[string]T, keep []string) {
	named := map[string]bool{}
	for _, k := range keep {
		named[k] = true
	}
	for k := range m {
		if !named[k] {
			delete(m, k)
		}
	}
}

// lenientResolver prints an Any of a type this binary does not know as just its "@type" instead of failing.
type lenientResolver struct{}

func (lenientResolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (lenientResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if t, err := protoregistry.GlobalTypes.FindMessageByURL(url); err == nil {
		return t, nil
	}
	return (&emptypb.Empty{}).ProtoReflect().Type(), nil
}

func (lenientResolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (lenientResolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

var marshal = protojson.MarshalOptions{UseProtoNames: true, Resolver: lenientResolver{}}

func sortedJSON[T proto.Message](m map[string]T) ([]json.RawMessage, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		b, err := marshal.Marshal(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *state) json(extra map[string]any) ([]byte, error) {
	doc := map[string]any{}
	for k, v := range extra {
		doc[k] = v
	}
	var err error
	if doc["clusters"], err = sortedJSON(s.clusters); err != nil {
		return nil, err
	}
	if doc["endpoints"], err = sortedJSON(s.endpoints); err != nil {
		return nil, err
	}
	if doc["listeners"], err = sortedJSON(s.listeners); err != nil {
		return nil, err
	}
	if doc["routes"], err = sortedJSON(s.routes); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

func run(o options) error {
	n, err := node(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}

	var sendMu sync.Mutex
	first := true
	send := func(typeURL string, names []string, version, nonce string) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		req := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: version, ResponseNonce: nonce}
		if first {
			req.Node = n // the node goes on the first request of the stream only
			first = false
		}
		return stream.Send(req)
	}
	requested := map[string]string{} // type -> the names asked for, joined, to ask again only on change
	ask := func(typeURL string, names []string, version, nonce string) error {
		key := strings.Join(names, "\x00")
		if prev, ok := requested[typeURL]; ok && prev == key && nonce == "" {
			return nil
		}
		requested[typeURL] = key
		return send(typeURL, names, version, nonce)
	}
	if err := ask(typeCluster, nil, "", ""); err != nil {
		return err
	}
	if err := ask(typeListener, nil, "", ""); err != nil {
		return err
	}

	responses := make(chan *discovery.DiscoveryResponse)
	errs := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				errs <- err
				return
			}
			responses <- r
		}
	}()
	stdinClosed := make(chan struct{})
	if o.watch {
		go func() {
			_, _ = bufio.NewReader(os.Stdin).ReadString(0)
			close(stdinClosed)
		}()
	}

	s := newState()
	deadline := time.NewTimer(o.timeout)
	quiet := time.NewTimer(time.Hour)
	seq := 0
	versions := map[string]string{}
	for {
		select {
		case r := <-responses:
			if err := s.apply(r); err != nil {
				return err
			}
			versions[r.GetTypeUrl()] = r.GetVersionInfo()
			// ACK with the names we hold, then follow what the new resources name.
			names := map[string][]string{typeEndpoint: s.edsNames(), typeRoute: s.rdsNames()}
			if err := send(r.GetTypeUrl(), names[r.GetTypeUrl()], r.GetVersionInfo(), r.GetNonce()); err != nil {
				return err
			}
			requested[r.GetTypeUrl()] = strings.Join(names[r.GetTypeUrl()], "\x00")
			if err := ask(typeEndpoint, s.edsNames(), versions[typeEndpoint], ""); err != nil {
				return err
			}
			if err := ask(typeRoute, s.rdsNames(), versions[typeRoute], ""); err != nil {
				return err
			}
			if !s.complete() {
				continue
			}
			if o.watch {
				seq++
				b, err := s.json(map[string]any{"seq": seq, "time": time.Now().UTC().Format(time.RFC3339Nano), "type": r.GetTypeUrl()})
				if err != nil {
					return err
				}
				fmt.Println(string(b))
				continue
			}
			quiet.Reset(o.quiet)
		case <-quiet.C:
			b, err := s.json(nil)
			if err != nil {
				return err
			}
			fmt.Println(string(b))
			return nil
		case <-deadline.C:
			if o.watch {
				deadline.Reset(time.Hour)
				continue
			}
			return fmt.Errorf("no complete configuration from %s within %s (got types %v, routes named %v)", o.addr, o.timeout, keys(s.received), s.rdsNames())
		case <-stdinClosed:
			return nil
		case err := <-errs:
			return fmt.Errorf("ADS stream: %w", err)
		}
	}
}

func keys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k[strings.LastIndex(k, ".")+1:])
	}
	sort.Strings(out)
	return out
}
