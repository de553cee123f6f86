# An image plugin (docker, ecr, gcr, gar, acr): the static binary on a base that carries dockerd
# for the default Docker-in-Docker mode. The real-world base is the official docker:*-dind image;
# it is an ARG so the tests can build on a locally made base (nothing can be pulled there).
# With PLUGIN_DAEMON_OFF=true and a mounted /var/run/docker.sock, the host daemon is used instead.
ARG BASE=docker:28.1.1-dind
FROM ${BASE}
ARG PLUGIN
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/longshore
LABEL org.opencontainers.image.title="longshore-${PLUGIN}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
COPY longshore-${PLUGIN} /bin/plugin
ENTRYPOINT ["/bin/plugin"]
