# An upload plugin (s3, gcs, jfrog, nexus): a static binary and the CA bundle, nothing else.
# Built by docker/build.sh from a context holding `longshore-$PLUGIN` and `ca-certificates.crt`.
FROM scratch
ARG PLUGIN
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://example.invalid/longshore
LABEL org.opencontainers.image.title="longshore-${PLUGIN}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY longshore-${PLUGIN} /bin/plugin
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/bin/plugin"]
