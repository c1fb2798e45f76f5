import MeshCore
import Netlink

/// Turns a netlink failure into the ``MeshError`` the device port promises, with a message
/// that names the operation, e.g. "applying the configuration of wg0 (message 2 of 3):
/// Invalid argument (errno 22); kernel: NLA_F_NESTED is missing".
///
/// Codes: `EPERM`/`EACCES` → `.permissionDenied`; `ENODEV` → `.notFound`; `EEXIST` →
/// `.alreadyExists`; transient shortages (`EBUSY`, `ENOBUFS`, `ENOMEM`, `EAGAIN`) and an
/// endlessly interrupted dump → `.unavailable`; a receive timeout → `.timeout`; everything
/// else the kernel refuses (`EINVAL`, `ERANGE`, `EADDRINUSE` for a taken listen port, …) →
/// `.backendFailure`. The cases that mean "no WireGuard here" (`ENOENT` for the family,
/// `EOPNOTSUPP` when creating the link) are decided by the callers, which know the request.
func translateKernelError(_ error: NetlinkError, while operation: String) -> MeshError {
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
    // The encoder sizes every message to its buffer: a message the builder refuses is a bug here.
    case .messageTooLarge: return .internalError
    default: break
    }
    guard let errno = error.errno else { return .backendFailure }
    switch errno {
    case .notPermitted, .permissionDenied:
        return .permissionDenied
    case .noSuchDevice:
        return .notFound
    // Only from opening a socket in a network namespace that does not exist; the kernel
    // answers ENOENT for a family, which the family lookup turns into `.unsupported`.
    case .noSuchFileOrDirectory where error.code == .systemCallFailed:
        return .notFound
    case .exists:
        return .alreadyExists
    case .protocolNotSupported where error.code == .systemCallFailed:
        return .unsupported
    case .busy, .wouldBlock, .noBufferSpace, .outOfMemory, .interrupted:
        return .unavailable
    default:
        return .backendFailure
    }
}

