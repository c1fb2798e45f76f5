import MeshCore
import Testing

@Suite struct DatastoreLocationTests {
    @Test func sqlite() throws {
        #expect(try DatastoreLocation("sqlite:///var/lib/meshguard/meshguard.db") == .sqlite(path: "/var/lib/meshguard/meshguard.db"))
    }

    @Test(arguments: [
        ("etcd://10.0.0.1:2379", [DatastoreEndpoint(host: "10.0.0.1", port: 2379)]),
        ("etcd://etcd-a,etcd-b:12379", [DatastoreEndpoint(host: "etcd-a", port: 2379), DatastoreEndpoint(host: "etcd-b", port: 12379)]),
        ("etcd://[::1]:2379,[fd00::2]", [DatastoreEndpoint(host: "::1", port: 2379), DatastoreEndpoint(host: "fd00::2", port: 2379)]),
    ])
    func etcd(text: String, endpoints: [DatastoreEndpoint]) throws {
        let location = try DatastoreLocation(text)
        #expect(location == .etcd(endpoints: endpoints))
        // The description reads back as the same location.
        #expect(try DatastoreLocation(location.description) == location)
    }

    @Test(arguments: [
        ("etcd://", "name at least one endpoint"),
        ("etcd://a:2379,", "has no host"),
        ("etcd://a:0", "port '0' is not 1-65535"),
        ("etcd://a:http", "port 'http' is not 1-65535"),
        ("etcd://::1:2379", "write an IPv6 address in brackets"),
        ("etcd://[::1", "opens '[' without closing it"),
        ("etcd://a:1,a:1", "named twice"),
        ("etcd://user@host:2379", "characters a host name or address cannot"),
        ("etcd://h/path", "characters a host name or address cannot"),
        ("sqlite://relative.db", "three slashes"),
        ("postgres://x", "unknown scheme 'postgres'"),
    ])
    func badLocationsNameWhatIsWrong(text: String, reason: String) {
        #expect {
            try DatastoreLocation(text)
        } throws: { error in
            let error = error as? MeshError
            return error?.code == .invalidArgument && error?.message.contains(reason) == true && error?.message.contains(text) == true
        }
    }
}
