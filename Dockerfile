FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /onboarding ./cmd/onboarding

FROM gcr.io/distroless/static-debian12
COPY --from=build /onboarding /onboarding
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/onboarding", "serve", "--data-dir", "/data", "--addr", "0.0.0.0:8080"]
