#!/usr/bin/env bash
# Generates Sources/EtcdAPI from scripts/etcd-api/etcd.proto: the protobuf messages
# (protoc-gen-swift, swift-protobuf) and the gRPC client stubs (protoc-gen-grpc-swift-2,
# grpc-swift-protobuf), both at the versions Package.swift resolves. Run it by hand after
# changing the proto, and commit the result: the build never runs protoc (its plugin build
# alone would add minutes to every fresh build).
#
#   scripts/etcd-api/generate.sh
#
# Needs protoc (Debian: protobuf-compiler) and the Swift toolchain.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
out=$repo/Sources/EtcdAPI

command -v protoc >/dev/null || { echo "generate: protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }

# The plugins come from the packages Meshguard itself depends on (same versions as the
# runtime libraries the generated code is compiled against). A scratch package builds them.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The version Package.swift names (from: "X"); this machine's package cache holds that one.
version_of() { sed -n "s/.*\/$1\.git\", from: \"\([0-9.]*\)\".*/\1/p" "$repo/Package.swift"; }
protobuf_version=$(version_of swift-protobuf)
grpc_protobuf_version=$(version_of grpc-swift-protobuf)
[[ -n $protobuf_version && -n $grpc_protobuf_version ]] \
  || { echo "generate: Package.swift must name swift-protobuf and grpc-swift-protobuf with from: \"X.Y.Z\"" >&2; exit 1; }
mkdir -p "$work/plugins/Sources/none"
touch "$work/plugins/Sources/none/none.swift"
cat > "$work/plugins/Package.swift" <<SWIFT
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "$protobuf_version"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "$grpc_protobuf_version"),
    ],
    targets: [.target(name: "none")]
)
SWIFT
echo "generate: building protoc-gen-swift $protobuf_version and protoc-gen-grpc-swift-2 $grpc_protobuf_version"
swift build --package-path "$work/plugins" -c release --product protoc-gen-swift >/dev/null
swift build --package-path "$work/plugins" -c release --product protoc-gen-grpc-swift-2 >/dev/null
bin=$(swift build --package-path "$work/plugins" -c release --show-bin-path)

mkdir -p "$work/out"
protoc -I "$here" \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="$work/out" --swift_opt=Visibility=Public \
  --grpc-swift-2_out="$work/out" --grpc-swift-2_opt=Visibility=Public,Server=False,Client=True \
  etcd.proto

rm -f "$out"/*.swift
mkdir -p "$out"
cp "$work/out/etcd.pb.swift" "$work/out/etcd.grpc.swift" "$out/"
echo "generate: wrote $(cd "$repo" && ls Sources/EtcdAPI/*.swift | tr '\n' ' ')"
