/// What one resync would do to the site file (the reconciler's output). Pure data.
package struct Plan: Sendable {
    package var sitePath: String
    package var oldBytes: [UInt8]
    /// Equal to `oldBytes` when nothing changes (or when the plan failed).
    package var newBytes: [UInt8]
    /// One per route, in the routes' order.
    package var outcomes: [RouteOutcome]
    /// Routes that could not be synced (the others still are), and `failure` when there is one.
    package var errors: [String]
    /// Not errors, but will bite: a proxy_pass outside the routes pointing at a routed Service (docs/design.md §5).
    package var warnings: [String]
    /// The whole plan could not be made (site file not parsable, template error, a Service that a template
    /// needs has no address): newBytes == oldBytes, nothing is to be written.
    package var failure: String?
    /// `diff -u` of old → new, labelled with the site path; empty when nothing changes.
    package var diff: [UInt8]

    package var hasChanges: Bool { newBytes != oldBytes }
}

/// What happens to one route.
package struct RouteOutcome: Sendable, Equatable {
    package enum Status: String, Sendable {
        /// The file's targets are rewritten from `old` to `new`.
        case changed
        /// The file already points at the live address.
        case unchanged
        /// The Service has no usable address (deleted, headless, …): the file keeps `old`; `reason` says why.
        case kept
        /// The route's targets could not be found or rewritten (`reason` names file, line, route).
        case error
    }

    package var location: String
    package var service: String
    package var status: Status
    /// The route's target addresses in the file before the resync, unique, in file order (several when
    /// the route's server blocks differ). Empty when they could not be found.
    package var fileAddresses: [String]
    /// The Service's live address, nil when it has none usable.
    package var live: ServiceAddress?
    /// Why the route is kept or failed; nil otherwise.
    package var reason: String?

    /// The file's address(es) before, for humans: "10.43.0.12:9000" (", "-joined when several).
    package var old: String { fileAddresses.isEmpty ? "-" : fileAddresses.joined(separator: ", ") }
    /// The address after the resync: the live one when changed, else the old one.
    package var new: String { status == .changed ? (live?.description ?? old) : old }
    /// Does nginx point at the right place? (Known only when the Service has an address.)
    package var inSync: Bool { status == .unchanged }
}
