import FoundationEssentials

// The messages of etcd's v3 API as its JSON gateway spells them (the gRPC-gateway
// mapping of api/etcdserverpb/rpc.proto): bytes in base64, 64-bit integers as
// strings, enums by name, fields at their default value left out.

/// A 64-bit integer as the gateway writes it: a string (`"42"`), read from a number too.
struct EtcdInt64: Codable, Sendable, Equatable {
    let value: Int64

    init(_ value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self), let value = Int64(text) {
            self.value = value
        } else {
            self.value = try container.decode(Int64.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

/// Only the revision is read: member and cluster ids are unsigned 64-bit numbers
/// that may not fit an Int64, and nothing here needs them.
struct ResponseHeader: Decodable, Sendable {
    var revision: EtcdInt64?
}

struct KeyValue: Decodable, Sendable {
    var key: Data
    var create_revision: EtcdInt64?
    var mod_revision: EtcdInt64?
    var value: Data?
    var lease: EtcdInt64?

    var createRevision: Int64 { create_revision?.value ?? 0 }
}

struct RangeRequest: Encodable, Sendable {
    var key: Data
    var range_end: Data?
    var limit: EtcdInt64?
    /// "ASCEND" or "DESCEND".
    var sort_order: String?
    /// "CREATE", "KEY", ...
    var sort_target: String?
    var max_create_revision: EtcdInt64?
}

struct RangeResponse: Decodable, Sendable {
    var header: ResponseHeader?
    var kvs: [KeyValue]?
    /// More keys are in the range than `limit` let through.
    var more: Bool?
}

struct PutRequest: Encodable, Sendable {
    var key: Data
    var value: Data
    var lease: EtcdInt64
}

struct DeleteRangeRequest: Encodable, Sendable {
    var key: Data
}

struct Compare: Encodable, Sendable {
    /// "EQUAL".
    var result = "EQUAL"
    /// "CREATE": compares the key's create revision (0 for a key that does not exist).
    var target = "CREATE"
    var key: Data
    var create_revision: EtcdInt64
}

struct RequestOp: Encodable, Sendable {
    var request_range: RangeRequest?
    var request_put: PutRequest?
    var request_delete_range: DeleteRangeRequest?
}

struct TxnRequest: Encodable, Sendable {
    var compare: [Compare]
    var success: [RequestOp]
    var failure: [RequestOp]
}

struct ResponseOp: Decodable, Sendable {
    var response_range: RangeResponse?
}

struct TxnResponse: Decodable, Sendable {
    var header: ResponseHeader?
    var succeeded: Bool?
    var responses: [ResponseOp]?
}

struct LeaseGrantRequest: Encodable, Sendable {
    var TTL: EtcdInt64
}

struct LeaseGrantResponse: Decodable, Sendable {
    var ID: EtcdInt64?
    var TTL: EtcdInt64?
    var error: String?
}

struct LeaseIDRequest: Encodable, Sendable {
    var ID: EtcdInt64
}

/// The gateway streams the keep-alive RPC: each answer comes wrapped in `result`.
struct LeaseKeepAliveLine: Decodable, Sendable {
    struct Result: Decodable, Sendable {
        var ID: EtcdInt64?
        /// Left out (0) when the lease no longer exists.
        var TTL: EtcdInt64?
    }

    var result: Result?
    var error: GatewayError?
}

struct LeaseRevokeResponse: Decodable, Sendable {
    var header: ResponseHeader?
}

struct WatchCreateRequest: Encodable, Sendable {
    struct Create: Encodable, Sendable {
        var key: Data
        /// With `key`, a range of keys (every key with a prefix: ``KeyRange/end(ofPrefix:)``).
        var range_end: Data?
        /// Left out: from the revision after the member's current one.
        var start_revision: EtcdInt64?
        /// "NOPUT": only deletions are of interest.
        var filters: [String]?
    }

    var create_request: Create
}

struct WatchLine: Decodable, Sendable {
    struct Result: Decodable, Sendable {
        var header: ResponseHeader?
        var created: Bool?
        var canceled: Bool?
        var compact_revision: EtcdInt64?
        var cancel_reason: String?
        var events: [Event]?
    }

    struct Event: Decodable, Sendable {
        /// Left out for PUT; "DELETE" for a deletion.
        var type: String?
        var kv: KeyValue?
    }

    var result: Result?
    var error: GatewayError?
}

/// What the gateway sends instead of a response when the call failed:
/// `{"error": "etcdserver: no leader", "code": 14, "message": "..."}`.
struct GatewayError: Decodable, Sendable, Error {
    var error: String?
    var message: String?
    /// The gRPC status code: 14 unavailable, 4 deadline exceeded, 3 invalid argument, ...
    var code: Int?

    var text: String { message ?? error ?? "unknown error" }
}
