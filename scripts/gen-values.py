#!/usr/bin/env python3
"""Generates a Helm-chart-like values.yaml of a given size, deterministically from a seed.

For benchmarks (scripts/bench.py, case "values") and for round-trip tests of kvsops against the
real sops on realistic input. The output reproduces the shapes found in public charts' values
files (grafana, argo-helm, bitnami, prometheus-community, ...): a top-level map of sections,
comments above keys and beside values, commented-out blocks, blank lines, nesting of 1 to 6
levels, block lists of scalars and of maps (indented and indentless), flow sequences and maps
(also multi-line ones whose closing bracket sits at the key's indentation), block scalars
(|, |-, |+, >, >-, |2, |2-), anchors, aliases and merge keys (<<: *x), tags (!!str, !!binary),
every quoting style, numbers (ints, octal modes, floats, exponents), booleans, null/~, empty
values, long strings, unicode and keys that need quotes. Every output is YAML the real sops 3.11
accepts (`sops encrypt --age PUB file.yaml`).

Usage: scripts/gen-values.py [--seed N] [--bytes N] [OUTPUT]   (stdout without OUTPUT)
"""

import argparse
import base64
import random
import sys

WORDS = (
    "image repository tag pullPolicy replicaCount service type port targetPort ingress enabled "
    "className annotations hosts host paths path pathType tls secretName resources limits requests "
    "cpu memory nodeSelector tolerations affinity podAnnotations podLabels securityContext runAsUser "
    "runAsGroup fsGroup runAsNonRoot readOnlyRootFilesystem serviceAccount create name automount "
    "autoscaling minReplicas maxReplicas targetCPUUtilizationPercentage persistence storageClass "
    "accessModes size existingClaim env extraEnv extraArgs extraVolumes extraVolumeMounts "
    "livenessProbe readinessProbe startupProbe initialDelaySeconds periodSeconds timeoutSeconds "
    "failureThreshold successThreshold config metrics serviceMonitor interval scrapeTimeout labels "
    "rbac networkPolicy podDisruptionBudget minAvailable maxUnavailable priorityClassName "
    "imagePullSecrets auth username password existingSecret database schedulerName "
    "terminationGracePeriodSeconds updateStrategy rollingUpdate maxSurge revisionHistoryLimit "
    "hostNetwork dnsPolicy dnsConfig lifecycle preStop command args volumePermissions sidecars "
    "initContainers topologySpreadConstraints whenUnsatisfiable topologyKey matchLabels "
    "podAntiAffinityPreset nodeAffinityPreset values key operator effect capabilities drop add "
    "seccompProfile clusterIP loadBalancerIP externalTrafficPolicy sessionAffinity nodePorts http "
    "https grpc metricsPort namespace selector relabelings metricRelabelings honorLabels jobLabel "
    "prometheusRule rules alert expr for severity summary description retention logLevel logFormat "
    "debug verbose timeout replicas digest registry pullSecrets clusterDomain commonLabels "
    "commonAnnotations fullnameOverride nameOverride diagnosticMode containerPorts customLivenessProbe "
    "extraDeploy extraEnvVarsCM extraEnvVarsSecret hostAliases ipFamilyPolicy webhook certManager "
    "issuer duration renewBefore dashboards datasources plugins sidecar folder provider "
    "storageSpec volumeClaimTemplate emptyDir sizeLimit medium mountPath subPath readOnly configMap "
    "secret defaultMode items"
).split()

SECTIONS = (
    "global controller server repoServer applicationSet dex redis notifications alertmanager "
    "prometheus grafana loki tempo mimir querier ingester distributor compactor gateway webhook "
    "cainjector startupapicheck operator exporter nodeExporter kubeStateMetrics pushgateway "
    "agent collector backend frontend worker scheduler admission metricsServer volumePermissions "
    "defaultBackend tcp udp kafka zookeeper postgresql mariadb mongodb memcached minio rabbitmq"
).split()

TEXT = (
    "the of to and a in is it you that was for on are with as be this have from or one by but not "
    "what all were when we there can an your which their said if do will each about how up out them "
    "then she many some so these would other into has more her two like him see time could no make "
    "than first been its who now people my made over did down only way find use may water long little "
    "very after words called just where most know get through back much before go good new write our "
    "used me man too any day same right look think also around another came come work three word must "
    "because does part even place well such here take why things help put years different away again "
    "pod node cluster chart release value secret token volume deployment statefulset daemonset "
    "container replica probe ingress service endpoint namespace configuration default override"
).split()

UNICODE = ["héllo", "wörld", "ñandú", "日本語", "данные", "Ελληνικά", "naïve", "café", "🚀", "✓ done",
           "emoji 🎉 party", "中文字符", "über", "résumé", "Zürich"]

IMAGES = ["docker.io/bitnami/nginx", "quay.io/prometheus/node-exporter", "ghcr.io/fluxcd/helm-controller",
          "registry.k8s.io/ingress-nginx/controller", "grafana/grafana", "quay.io/argoproj/argocd",
          "public.ecr.aws/eks/aws-load-balancer-controller", "gcr.io/distroless/static"]

# Keys that must be quoted, with both quoting styles seen in charts.
ODD_KEYS = ['"k8s:io.kubernetes.pod.namespace"', '"k8s:k8s-app"', "'8080'", '"true"', '"null"',
            '"key with spaces"', "'@timestamp'", '"#not-a-comment"', '"a: b"', "'it''s'",
            '"app.kubernetes.io/name"', '"prometheus.io/scrape"', '"*"', '"-dash"', "'[bracket]'",
            '"ünïcode-key"', '"{{ .Release.Name }}"', '"x\\ty"']

COMMENTS = [
    "Default values for the chart.", "This is a YAML-formatted file.", "Declare variables to be passed into your templates.",
    "-- Number of replicas", "Specifies whether a service account should be created", "ref: https://kubernetes.io/docs/concepts/",
    "@param image.tag Image tag (immutable tags are recommended)", "We usually recommend not to specify default resources.",
    "NOTE: this value is ignored when existingSecret is set", "TODO: remove in the next major version", "e.g.",
    "Uncomment the following lines to enable it", "-- (string) Overrides the image tag whose default is the chart appVersion",
    "Allowed values: `Always`, `IfNotPresent`, `Never`", "kubectl create secret generic my-secret --from-file=key",
    "See values.schema.json", "@default -- `\"\"` (defaults to .Release.Namespace)", "héllo — ünïcode in a comment ✓",
]


class Gen:
    def __init__(self, seed, target):
        self.r = random.Random(seed)
        self.target = target
        self.lines = []
        self.size = 0
        self.map_anchors = []     # anchors on block maps: usable by aliases and merge keys
        self.value_anchors = []   # anchors on scalars and lists
        self.n_anchor = 0

    # --- output -------------------------------------------------------------------------------
    def emit(self, line):
        self.lines.append(line)
        self.size += len(line) + 1 if line.isascii() else len(line.encode()) + 1

    def full(self):
        return self.size >= self.target

    # --- words and scalars --------------------------------------------------------------------
    def word(self):
        return self.r.choice(WORDS)

    def sentence(self, lo=3, hi=14):
        r = self.r
        return " ".join(r.choice(TEXT) for _ in range(r.randint(lo, hi)))

    def key(self, used):
        r = self.r
        x = r.random()
        if x < 0.03:
            k = r.choice(ODD_KEYS)
        elif x < 0.25:
            w = self.word()
            k = self.word() + w[0].upper() + w[1:]
        elif x < 0.3:
            k = self.word() + "-" + self.word().lower()
        elif x < 0.33:
            k = self.word() + "_" + self.word().lower()
        else:
            k = self.word()
        while k in used:
            if k[0] in "\"'":
                k = k[0] + k[1:-1] + str(r.randint(0, 9)) + k[0]
            else:
                k = k + str(r.randint(0, 99))
        used.add(k)
        return k

    def plain(self):
        """A plain (unquoted) string scalar that stays a string and needs no quotes."""
        r = self.r
        x = r.random()
        if x < 0.2:
            return r.choice(IMAGES)
        if x < 0.3:
            return f"{r.randint(0, 3)}.{r.randint(0, 30)}.{r.randint(0, 20)}-debian-12-r{r.randint(0, 40)}"
        if x < 0.4:
            return r.choice(["IfNotPresent", "Always", "ClusterIP", "NodePort", "LoadBalancer", "Prefix",
                             "ImplementationSpecific", "RuntimeDefault", "ReadWriteOnce", "info", "warn", "json",
                             "100m", "128Mi", "1Gi", "10Gi", "30s", "5m", "Recreate", "RollingUpdate", "25%"])
        if x < 0.5:
            return f"https://{self.word().lower()}.example.com:{r.randint(1, 65535)}/{self.word()}"
        if x < 0.55:
            return r.choice(UNICODE) + " " + self.sentence(1, 4)
        if x < 0.62:
            return self.sentence(15, 60)  # a long one-line string
        if x < 0.64:
            return "-".join(r.choice(TEXT) for _ in range(40))  # long, no spaces
        return self.sentence(1, 6)

    def double(self):
        r = self.r
        x = r.random()
        if x < 0.3:
            return '"' + r.choice(["{{ .Release.Name }}", r'{{ include \"chart.fullname\" . }}-svc',
                                   "{{ .Values.global.imageRegistry }}", "{{- toYaml . | nindent 4 }}"]) + '"'
        if x < 0.5:
            esc = r.choice(["\\n", "\\t", "\\\"", "\\\\", "\\u00e9", "\\x41", "\\r\\n", "\\u263A"])
            return '"' + self.sentence(1, 4) + esc + self.sentence(1, 3) + '"'
        if x < 0.6:
            return '"' + r.choice(UNICODE) + '"'
        if x < 0.7:
            return '"' + r.choice(["", "true", "false", "null", "1234", "0.5", "yes", "on", "~", "08", "1e3"]) + '"'
        if x < 0.75:
            return '"' + self.sentence(30, 120) + '"'
        return '"' + self.plain().replace("\\", "\\\\").replace('"', '\\"') + '"'

    def single(self):
        r = self.r
        x = r.random()
        if x < 0.2:
            return "'" + r.choice(["", "true", "8080", "null", "*", "@", "#", "- dash", "a: b", "[x]"]) + "'"
        if x < 0.35:
            return "'it''s " + self.sentence(1, 3) + "'"
        if x < 0.45:
            return "'" + r.choice(UNICODE) + "'"
        return "'" + self.plain().replace("'", "''") + "'"

    def number(self):
        r = self.r
        x = r.random()
        if x < 0.5:
            return str(r.choice([0, 1, 2, 3, 5, 10, 30, 60, 80, 443, 1001, 3000, 8080, 9090, 65534, 65536, -1,
                                 r.randint(0, 100000), r.randint(0, 2 ** 40)]))
        if x < 0.6:
            return r.choice(["0644", "0755", "0400", "0600", "420", "0"])
        if x < 0.85:
            return r.choice(["0.5", "1.0", "0.25", "3.14159", "-0.75", "100.0", "0.001", "2.5", "4.10", "60.0", "0.10"])
        return r.choice(["1.0e+3", "2.5e-4", "6.02e+23", "1.0E+6", "1e-05"])

    def scalar(self, flow=False):
        """A scalar value (without comment). In flow context only flow-safe forms."""
        r = self.r
        x = r.random()
        if x < 0.3:
            v = self.plain()
            if flow and any(c in v for c in ",[]{}:#"):
                v = '"' + v + '"'
            return v
        if x < 0.45:
            return self.double()
        if x < 0.52:
            return self.single()
        if x < 0.7:
            return self.number()
        if x < 0.84:
            return r.choice(["true", "false", "true", "false", "True"])
        if x < 0.88:
            return r.choice(["null", "~", "null"])
        if x < 0.91 and not flow:
            if r.random() < 0.6:
                return "!!str " + r.choice(["123", "true", "1.5", "0644", "null"])
            data = bytes(r.randrange(256) for _ in range(r.randint(3, 48)))
            return "!!binary " + base64.b64encode(data).decode()
        if x < 0.94:
            return r.choice(['""', "''"])
        return self.plain() if not flow else str(r.randint(0, 99))

    def comment(self):
        r = self.r
        return r.choice(COMMENTS) if r.random() < 0.6 else self.sentence(2, 12)

    def side_comment(self, p):
        """`  # note` beside a value, with probability p (charts align some of them in columns)."""
        r = self.r
        if r.random() >= p:
            return ""
        return " " * r.choice([1, 2, 2, 2, 4, 9]) + "# " + self.comment()

    def multiline_scalar(self, ind, lead):
        """A plain, single- or double-quoted scalar folded over several lines (as in CRD descriptions)."""
        r = self.r
        pad = " " * (ind + 2)
        lines = [self.sentence(3, 10) for _ in range(r.randint(2, 5))]
        q = r.choice(["", "", "", "'", '"'])
        if q == "'" and r.random() < 0.5:
            lines[0] += " it''s"
        if q == '"' and r.random() < 0.5:
            lines[-1] += " \\u00e9\\t\\\\"
        self.emit(f"{lead} {q}{lines[0]}")
        for i, line in enumerate(lines[1:]):
            if q and i and r.random() < 0.15:
                self.emit("")  # an empty line inside quotes is a newline
            self.emit(f"{pad}{line}{q if i == len(lines) - 2 else ''}")

    def new_anchor(self):
        self.n_anchor += 1
        return f"{self.word()}{self.n_anchor}"

    # --- structures ---------------------------------------------------------------------------
    def flow_seq(self):
        r = self.r
        n = r.choice([0, 1, 2, 3, 4, 6])
        return "[" + ", ".join(self.scalar(flow=True) for _ in range(n)) + "]"

    def flow_map(self):
        r = self.r
        n = r.choice([0, 0, 1, 2, 3])
        if n == 0:
            return r.choice(["{}", "{ }"])
        used = set()
        return "{" + ", ".join(f"{self.key(used)}: {self.scalar(flow=True)}" for _ in range(n)) + "}"

    def commented_block(self, ind):
        """A commented-out stretch of YAML (`# foo: bar`), as charts ship optional settings."""
        r = self.r
        pad = " " * ind
        for _ in range(r.randint(1, 3)):
            k = self.word()
            form = r.random()
            if form < 0.4:
                self.emit(f"{pad}# {k}: {self.scalar()}")
            elif form < 0.7:
                self.emit(f"{pad}# {k}:")
                for _ in range(r.randint(1, 4)):
                    self.emit(f"{pad}#   {self.word()}: {self.scalar()}")
            else:
                self.emit(f"{pad}# {k}:")
                for _ in range(r.randint(1, 3)):
                    self.emit(f"{pad}#   - {self.word()}: {self.scalar()}")
                    self.emit(f"{pad}#     {self.word()}: {self.scalar()}")

    def block_scalar(self, ind, lead):
        """`lead` is the text up to and including `key:`; emits the header and the content."""
        r = self.r
        style = r.choice(["|", "|", "|-", "|-", "|-", ">", ">-", "|+", "|2", "|2-"])
        self.emit(f"{lead} {style}")
        base = ind + 2
        pad = " " * base
        content = r.random()
        n = r.randint(1, 12)
        if style.startswith("|2"):
            # An indentation indicator lets the first line start with extra spaces.
            self.emit(pad + "   " + self.sentence(1, 5))
            n -= 1
        for i in range(n):
            if content < 0.3:
                # an embedded config file
                depth = r.randint(0, 3)
                line = "  " * depth + f"{self.word()}: {self.scalar(flow=True)}"
            elif content < 0.5:
                line = r.choice(["{", "}", "  \"enabled\": true,", "  \"level\": \"info\"", "[server]",
                                 "listen 8080;", "location / {", "  proxy_pass http://backend;", "}",
                                 "#!/bin/sh", "set -euo pipefail", "exec \"$@\"", "echo \"${HOME}\" # not a comment",
                                 "- item: in a block scalar", "key: value  # still text", "tab\tinside"])
            else:
                line = self.sentence(2, 16)
                if i and r.random() < 0.15 and style[0] == ">":
                    line = "  " + line  # more-indented line in a folded scalar
            if not i and not style.startswith("|2"):
                line = line.lstrip()  # the first line sets the indentation
            if r.random() < 0.08 and i:
                self.emit("")
            self.emit(pad + line)
        if style == "|+":
            self.emit("")

    def multiline_flow(self, ind, lead):
        r = self.r
        pad = " " * ind
        if r.random() < 0.7:
            self.emit(f"{lead} [")
            items = [self.double() if r.random() < 0.7 else self.scalar(flow=True) for _ in range(r.randint(1, 6))]
            for i, it in enumerate(items):
                self.emit(f"{pad}  {it}{',' if i < len(items) - 1 or r.random() < 0.2 else ''}")
            self.emit(f"{pad}]")
        else:
            self.emit(f"{lead} {{")
            used = set()
            n = r.randint(1, 5)
            for i in range(n):
                self.emit(f"{pad}  {self.key(used)}: {self.scalar(flow=True)}{',' if i < n - 1 else ''}")
            self.emit(f"{pad}}}")

    def scalar_list(self, ind):
        r = self.r
        pad = " " * ind
        for _ in range(r.randint(1, 8)):
            if r.random() < 0.08:
                self.emit(f"{pad}# {self.comment()}")
            if r.random() < 0.05:
                self.emit(f"{pad}- {self.flow_seq()}")
            else:
                v = self.scalar()
                if r.random() < 0.1:
                    v += "  # " + self.comment()
                self.emit(f"{pad}- {v}")

    def map_list(self, ind, depth):
        r = self.r
        for _ in range(r.randint(1, 4)):
            if r.random() < 0.1:
                self.emit(" " * ind + "# " + self.comment())
            self.block_map(ind + 2, depth + 1, dash=True, max_keys=r.randint(1, 5))
            if self.full():
                break

    def value(self, ind, depth, lead, used_kinds=None):
        """Emits `lead` (indent + key + ':') followed by a value of some kind."""
        r = self.r
        x = r.random()
        deep = depth < 6
        if deep and x < 0.30:
            anchor = ""
            if r.random() < 0.04:
                anchor = self.new_anchor()
            c = f"  # {self.comment()}" if r.random() < 0.05 else ""
            self.emit(f"{lead}{' &' + anchor if anchor else ''}{c}")
            self.block_map(ind + 2, depth + 1)
            if anchor:
                self.map_anchors.append(anchor)
            return
        if deep and x < 0.36:
            self.emit(lead)
            self.scalar_list(ind + 2 if r.random() < 0.6 else ind)  # indented or indentless
            return
        if deep and x < 0.41:
            self.emit(lead)
            self.map_list(ind if r.random() < 0.4 else ind + 2, depth)
            return
        if x < 0.45:
            self.block_scalar(ind, lead)
            return
        if x < 0.48:
            self.emit(f"{lead} {self.flow_seq()}{self.side_comment(0.2)}")
            return
        if x < 0.51:
            self.emit(f"{lead} {self.flow_map()}{self.side_comment(0.2)}")
            return
        if x < 0.515:
            self.multiline_scalar(ind, lead)
            return
        if x < 0.52:
            self.multiline_flow(ind, lead)
            return
        if x < 0.535 and (self.map_anchors or self.value_anchors):
            self.emit(f"{lead} *{r.choice(self.map_anchors + self.value_anchors)}")
            return
        if x < 0.545:
            anchor = self.new_anchor()
            self.emit(f"{lead} &{anchor} {self.scalar()}")
            self.value_anchors.append(anchor)
            return
        if x < 0.56:
            self.emit(lead)  # empty value
            return
        v = self.scalar()
        if r.random() < 0.12:
            v += r.choice(["  # ", " # "]) + self.comment()
        self.emit(f"{lead} {v}")

    def block_map(self, ind, depth, dash=False, max_keys=None):
        """A block map whose keys are at column `ind`; with `dash`, it is a list item (`- ` at ind-2)."""
        r = self.r
        pad = " " * ind
        used = set()
        n = max_keys or r.choice([1, 2, 3, 4, 5, 6, 8, 12])
        first = True
        merged = False
        for _ in range(n):
            if not first and r.random() < 0.12:
                self.emit("")
            if not first and r.random() < 0.25:
                for _ in range(r.randint(1, 3)):
                    self.emit(f"{pad}# {self.comment()}")
            if not first and r.random() < 0.06:
                self.commented_block(ind)
            head = (" " * (ind - 2) + "- ") if (dash and first) else pad
            if first and self.map_anchors and not merged and r.random() < 0.06:
                # a merge key, first in its map as charts write it
                merged = True
                if len(self.map_anchors) > 1 and r.random() < 0.2:
                    a, b = r.sample(self.map_anchors, 2)
                    self.emit(f"{head}<<: [*{a}, *{b}]")
                else:
                    tag = "!!merge " if r.random() < 0.15 else ""
                    self.emit(f"{head}{tag}<<: *{r.choice(self.map_anchors)}")
                first = False
                continue
            k = self.key(used)
            self.value(ind, depth, f"{head}{k}:")
            first = False
            if self.full():
                break

    def document(self):
        r = self.r
        if r.random() < 0.7:
            for c in COMMENTS[:3]:
                self.emit("# " + c)
            self.emit("")
        if r.random() < 0.1:
            self.emit("---")
        used = set()
        while not self.full():
            name = r.choice(SECTIONS)
            if r.random() < 0.5:
                other = r.choice(SECTIONS)
                name += other[0].upper() + other[1:]
            while name in used:
                name += str(r.randint(0, 9))
            used.add(name)
            if r.random() < 0.6:
                self.emit(f"## @section {name} parameters")
                self.emit(f"## {self.comment()}")
                self.emit("##")
            x = r.random()
            if x < 0.85:
                anchor = f" &{self.new_anchor()}" if r.random() < 0.03 else ""
                self.emit(f"{name}:{anchor}")
                self.block_map(2, 1)
                if anchor:
                    self.map_anchors.append(anchor[2:])
            else:
                self.value(0, 1, f"{name}:")
            if r.random() < 0.15:
                self.commented_block(0)
            self.emit("")
        return "\n".join(self.lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bytes", type=int, default=100_000, help="approximate size of the output")
    ap.add_argument("output", nargs="?", help="output path (stdout when absent)")
    args = ap.parse_args()
    text = Gen(args.seed, args.bytes).document()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.buffer.write(text.encode())


if __name__ == "__main__":
    main()
