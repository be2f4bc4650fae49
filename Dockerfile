# The agent's image: Debian's BCC, the intuition package with Vizceral's bundle, containerd's `ctr`, and
# fallback kernel headers for hosts that have none. Build it with scripts/build-image.sh (it builds the base
# first: no registry is reachable, so the base is made from Debian's packages by
# scripts/build-base-image.sh).
ARG BASE=intuition-base:bookworm
FROM ${BASE}

# `apt-get clean` after each install: the base keeps apt's caches and the downloaded packages (140 MB).
# BCC compiles the probes against a kernel header tree. The host's is used when /lib/modules and /usr/src
# are mounted; for hosts without headers for their kernel the image carries Debian's 6.1 headers (the
# ones scripts/setup.sh links), merged into one tree outside /usr/src so that a mount cannot hide them.
# The probes read struct offsets from the running kernel's BTF, so another kernel's headers are fine.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-bpfcc python3-venv ca-certificates >/dev/null \
 && headers=$(apt-cache search --names-only '^linux-headers-6\.1\.[0-9.-]*-cloud-amd64$' | awk '{print $1}' | sort -V | tail -n1) \
 && mkdir /tmp/headers && cd /tmp/headers \
 && apt-get download -qq "$headers" "${headers%-cloud-amd64}-common" \
 && for deb in *.deb; do dpkg-deb -x "$deb" root; done \
 && mkdir -p /opt/intuition/kernel-headers \
 && cp -a root/usr/src/*-common/. /opt/intuition/kernel-headers/ \
 && cp -a --remove-destination root/usr/src/*-cloud-amd64/. /opt/intuition/kernel-headers/ \
 && find /opt/intuition/kernel-headers -xtype l -delete \
 && echo "$headers" > /opt/intuition/kernel-headers/PACKAGE \
 && cd / && rm -rf /tmp/headers /var/lib/apt/lists/* && apt-get clean

# containerd's `ctr` client, through which the agent reads a Kubernetes node's pods
# (tracer/identity/containerd_source.py): only that one static binary from Debian's containerd package, not
# the daemon, its shims and runc. It speaks containerd's v1 API, which containerd 1.x and 2.x both serve.
RUN apt-get update -qq \
 && mkdir /tmp/containerd && cd /tmp/containerd \
 && apt-get download -qq containerd \
 && dpkg-deb -x containerd_*.deb root \
 && install -m 0755 root/usr/bin/ctr /usr/local/bin/ctr \
 && cd / && rm -rf /tmp/containerd /var/lib/apt/lists/* && apt-get clean

# Python dependencies in their own layer, so that a change to the code alone reuses it. They come as wheels
# that scripts/build-image.sh downloads with the host's pip and its settings (index, proxy, certificates),
# which a build container does not have.
COPY build/image/ /tmp/image/
RUN python3 -m venv --system-site-packages /opt/intuition/venv \
 && /opt/intuition/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check \
      --no-index --find-links /tmp/image/wheels -r /tmp/image/requirements.txt

COPY pyproject.toml README.md /src/
COPY probes /src/probes
COPY tracer /src/tracer
COPY dashboard /src/dashboard
RUN test -s /src/dashboard/node_modules/vizceral/dist/vizceral.min.js \
 && /opt/intuition/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check \
      --no-index --find-links /tmp/image/wheels --no-deps /src \
 && rm -rf /src /tmp/image

COPY deploy/docker/entrypoint.sh /usr/local/bin/intuition
EXPOSE 9470
ENTRYPOINT ["intuition"]
CMD ["agent", "--listen", "0.0.0.0:9470"]
