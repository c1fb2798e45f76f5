import MeshCore
import Netlink

/// Turns a netlink failure into the ``MeshError`` the `Routing` port promises, with a message
/// that names the operation and its object, e.g.
/// "adding route 10.244.2.0/24 dev meshguard0 table 51830: No such device (errno 19)".
package func meshError(_ error: NetlinkError, while operation: String) -> MeshError {
    let message: String
    switch error.code {
    case .kernelRejected:
        // The detail is only "netlink request"; the operation says more.
        message = "\(operation): \(error.errno.map { "\($0)" } ?? "rejected")"
            + (error.kernelMessage.map { "; kernel: \($0)" } ?? "")
    case .systemCallFailed:
        message = "\(operation): \(error.detail)" + (error.errno.map { ": \($0)" } ?? "")
    default:
        message = "\(operation): \(error.detail)"
    }
    return MeshError(code(for: error), message, errno: error.errno?.rawValue)
}

private func code(for error: NetlinkError) -> MeshError.Code {
    switch error.code {
    case .timeout: return .timeout
    case .dumpInterrupted: return .unavailable
    case .malformedMessage: return .backendFailure
    case .messageTooLarge: return .internalError
    default: break
    }
    guard let errno = error.errno else { return .backendFailure }
    switch errno {
    case .notPermitted, .permissionDenied:
        return .permissionDenied
    case .noSuchDevice, .noSuchFileOrDirectory, .noSuchProcess:
        return .notFound
    case .exists:
        return .alreadyExists
    case .invalidArgument, .outOfRange:
        return .invalidArgument
    case .notSupported, .addressFamilyNotSupported, .protocolNotSupported:
        return .unsupported
    case .busy, .wouldBlock, .noBufferSpace, .outOfMemory, .networkDown, .interrupted:
        return .unavailable
    default:
        return .backendFailure
    }
}
