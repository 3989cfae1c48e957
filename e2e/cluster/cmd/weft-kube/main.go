// Command weft-kube is a multi-call binary holding the Kubernetes components
// (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy, kubectl) and an embedded etcd, all built from their upstream Go
// modules. Linking the shared Kubernetes code once keeps the build fast.
//
// Dispatch is on the basename of argv[0] (symlink per component) or, when
// called as weft-kube, on the first argument: `weft-kube kubectl get nodes`.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

var personalities = map[string]func() int{
	"kube-apiserver":          func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() int { return cli.Run(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubelet":                 func() int { return cli.Run(kubelet.NewKubeletCommand(context.Background())) },
	"kube-proxy":              func() int { return cli.Run(proxy.NewProxyCommand()) },
	"kubectl":                 runKubectl,
	"etcd":                    runEtcd,
}

func runKubectl() int {
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

func names() string {
	var n []string
	for k := range personalities {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := personalities[name]; !ok {
		if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
			fmt.Fprintf(os.Stderr, "usage: %s COMPONENT [ARGS...]  (or call through a symlink named COMPONENT)\ncomponents: %s\n", name, names())
			if len(os.Args) < 2 {
				os.Exit(2)
			}
			os.Exit(0)
		}
		name = os.Args[1]
		if _, ok := personalities[name]; !ok {
			fmt.Fprintf(os.Stderr, "%s: unknown component %q; components: %s\n", filepath.Base(os.Args[0]), name, names())
			os.Exit(2)
		}
		// Shift so that the component sees itself as argv[0].
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	os.Exit(personalities[name]())
}
