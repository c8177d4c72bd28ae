// Command keda-adapter serves KEDA's external metrics API (external.metrics.k8s.io) for
// the forescale sandbox.
//
// Why not KEDA's own cmd/adapter: that binary also opens a Prometheus /metrics listener on
// all interfaces (":<port>", with no flag for the host), and every process of the sandbox
// must bind 127.0.0.1 only. This program wires the same parts KEDA's adapter is made of
// (KEDA's provider, KEDA's gRPC client to the operator's metrics service, and the
// custom-metrics-apiserver that serves the API) and leaves that extra listener out, so
// what the HPA controller reads is exactly what KEDA's metrics server would answer.
package main

import (
	"flag"
	"fmt"
	"os"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/metricsservice"
	kedaprovider "github.com/kedacore/keda/v2/pkg/provider"
	kedautil "github.com/kedacore/keda/v2/pkg/util"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "keda-adapter:", err)
		os.Exit(1)
	}
}

func run() error {
	adapter := &basecmd.AdapterBase{Name: "keda-adapter"}
	var operatorAddress, authority string
	flags := adapter.Flags()
	flags.StringVar(&operatorAddress, "metrics-service-address", "127.0.0.1:9666",
		"host:port of the KEDA operator's gRPC metrics service")
	flags.StringVar(&authority, "metrics-service-grpc-authority", "",
		"TLS server name to expect from the operator, when it differs from the address")
	zapOptions := zap.Options{}
	zapOptions.BindFlags(flag.CommandLine)
	flags.AddGoFlagSet(flag.CommandLine)
	if err := flags.Parse(os.Args[1:]); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))
	log := ctrl.Log.WithName("keda-adapter")
	ctx := ctrl.SetupSignalHandler()

	if err := appsv1.AddToScheme(scheme.Scheme); err != nil {
		return err
	}
	if err := kedav1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return err
	}
	namespaces, err := kedautil.GetWatchNamespaces()
	if err != nil {
		return err
	}
	manager, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: server.Options{BindAddress: "0"},
		Cache: ctrlcache.Options{
			DefaultNamespaces: namespaces,
			DefaultTransform:  kedautil.CacheObjectTransform,
		},
	})
	if err != nil {
		return err
	}
	// The gRPC client authenticates with the same mTLS files the operator serves with
	// (ca.crt, tls.crt, tls.key in the adapter's --cert-dir), as in a KEDA install.
	clientMetrics := grpcprom.NewClientMetrics()
	client, err := metricsservice.NewGrpcClient(ctx, operatorAddress,
		adapter.SecureServing.ServerCert.CertDirectory, authority, "", clientMetrics, false)
	if err != nil {
		return err
	}
	go func() {
		if err := manager.Start(ctx); err != nil {
			log.Error(err, "controller-runtime manager stopped")
			os.Exit(1)
		}
	}()
	adapter.WithExternalMetrics(kedaprovider.NewProvider(ctx, log, manager.GetClient(), *client))
	log.Info("serving external.metrics.k8s.io", "operator", operatorAddress)
	return adapter.Run(ctx)
}
