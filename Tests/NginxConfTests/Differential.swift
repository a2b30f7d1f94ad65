import Foundation
import NginxConf
import TestSupport

/// The differential check of the parser against real `nginx -t`: seeded mutants of the fixtures,
/// nginx's verdict on each, and the comparison. NginxDifferentialTests runs a few hundred;
/// scripts/nginx-differential.sh runs tens of thousands through the same code.
enum Differential {
    /// Seeds: the site fixtures nginx-light can load, and Tests/Fixtures/nginx/differential/*.conf
    /// (custom bodies, terminators, tokens near nginx's length limit).
    static func seeds() throws -> [(name: String, bytes: [UInt8])] {
        let sites = try NginxAgreesTests.loadable.map { ($0, try fixtureBytes("nginx/\($0).conf")) }
        let dir = fixturePath("nginx/differential")
        let extra = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".conf") }.sorted()
        return try sites + extra.map { ("differential/\($0.dropLast(5))", try fixtureBytes("nginx/differential/\($0)")) }
    }

    /// What the issue lists: quotes, braces, `;`, backslash, `#`, `${`, `$`, CR, NUL, LF, and bytes
    /// that are not UTF-8.
    static let pieces: [[UInt8]] = [
        [0x22], [0x27], [0x7B], [0x7D], [0x3B], [0x5C], [0x23], [0x24, 0x7B], [0x24], [0x0D], [0x00], [0x0A],
        [0xFF], [0xC3], [0x80], [0xE9],
    ]

    /// Mutant `index` of the run `seed`: 1 to 3 deletions, duplications or insertions of a piece (now
    /// and then a run of bytes that takes a token across nginx's 4096-byte limit).
    static func mutant(_ index: Int, of seeds: [(name: String, bytes: [UInt8])], seed: UInt64) -> (name: String, bytes: [UInt8]) {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9)
        let base = seeds[index % seeds.count]
        var bytes = base.bytes
        for _ in 0..<(1 + rng.below(3)) {
            let at = rng.below(bytes.count + 1)
            switch rng.below(20) {
            case 0..<5 where at < bytes.count: bytes.remove(at: at)
            case 5..<9 where at < bytes.count: bytes.insert(bytes[at], at: at)
            case 9: bytes.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: 4 + rng.below(8)), at: at)
            default: bytes.insert(contentsOf: rng.pick(pieces), at: at)
            }
        }
        return ("\(base.name)#\(index)", bytes)
    }

    /// nginx's verdict: accepted, a syntax error (the tokenizer or the terminator check, which no
    /// context or handler changes) on a line of site.conf, or another error (a directive's handler, a
    /// context, a check after parsing) that may hide a later syntax error.
    enum Verdict: Equatable {
        case accepted
        case syntax(line: Int, message: String)
        case other(line: Int?, message: String)
    }

    /// The tokenizer's messages: `unexpected "X"` for one byte X (a handler's `unexpected "=x" in
    /// condition` is not one), `unexpected end of file, ...`, `too long parameter ...`.
    static func isTokenizerMessage(_ message: String) -> Bool {
        if message.hasPrefix("unexpected end of file") || message.hasPrefix("too long parameter") { return true }
        guard message.hasPrefix("unexpected \""), message.hasSuffix("\"") else { return false }
        return message.dropFirst("unexpected \"".count).dropLast().count == 1
    }
    static let terminatorMessages = ["\" is not terminated by \";\"", "\" has no opening \"{\""]

    static func verdict(ok: Bool, output: String, sandbox: String) -> Verdict {
        if ok { return .accepted }
        guard let emerg = output.range(of: "[emerg] ") else { return .other(line: nil, message: output) }
        var rest = output[emerg.upperBound...]
        if let colon = rest.range(of: ": ") { rest = rest[colon.upperBound...] }  // "PID#TID: "
        let marker = " in \(sandbox)/site.conf:"
        guard let place = rest.range(of: marker) else { return .other(line: nil, message: String(rest.prefix(200))) }
        let message = String(rest[..<place.lowerBound])
        let line = Int(rest[place.upperBound...].prefix { $0.isNumber })
        let isSyntax = isTokenizerMessage(message)
            || (message.hasPrefix("directive \"") && terminatorMessages.contains { message.hasSuffix($0) })
        if isSyntax, let line { return .syntax(line: line, message: message) }
        return .other(line: line, message: message)
    }

    enum Outcome: String, CaseIterable {
        // agreements
        case bothAccept, sameSyntaxErrorLine, otherErrorParserAccepts, otherErrorParserLater, otherErrorNoLine
        // disagreements
        case parserRejectsValid, parserAcceptsSyntaxError, syntaxErrorOtherLine, parserErrorBeforeOtherError
        var isDisagreement: Bool {
            [.parserRejectsValid, .parserAcceptsSyntaxError, .syntaxErrorOtherLine, .parserErrorBeforeOtherError].contains(self)
        }
    }

    /// Compares the parser with nginx's verdict on `bytes`; accepted input must also print back exactly.
    static func compare(_ bytes: [UInt8], _ verdict: Verdict) -> (Outcome, String) {
        let parsed: Result<ConfigFile, NginxConfError> = Result { () throws(NginxConfError) in
            try ConfigFile.parse(bytes, path: "site.conf")
        }
        let parserLine: Int?
        switch parsed {
        case .success(let file):
            if file.printed() != bytes { return (.parserRejectsValid, "accepted but does not print back its bytes") }
            parserLine = nil
        case .failure(let error): parserLine = error.line
        }
        let said = parserLine.map { "parser: line \($0): \(String(describing: parsed).prefix(300))" } ?? "parser accepts"
        switch verdict {
        case .accepted:
            return parserLine == nil ? (.bothAccept, "") : (.parserRejectsValid, said)
        case .syntax(let line, let message):
            guard let parserLine else { return (.parserAcceptsSyntaxError, "nginx line \(line): \(message)") }
            return parserLine == line ? (.sameSyntaxErrorLine, "")
                : (.syntaxErrorOtherLine, "nginx line \(line): \(message); \(said)")
        case .other(let line, let message):
            guard let parserLine else { return (.otherErrorParserAccepts, "") }
            guard let line else { return (.otherErrorNoLine, "") }
            return parserLine >= line ? (.otherErrorParserLater, "")
                : (.parserErrorBeforeOtherError, "nginx line \(line): \(message); \(said)")
        }
    }

    struct Report {
        var counts: [Outcome: Int] = [:]
        var examples: [String] = []
        var tried: Int { counts.values.reduce(0, +) }
        var disagreements: Int { counts.filter { $0.key.isDisagreement }.values.reduce(0, +) }
        var summary: String {
            "mutants \(tried): " + Outcome.allCases.map { "\($0.rawValue) \(counts[$0, default: 0])" }.joined(separator: ", ")
        }
    }

    /// Runs nginx -t on `count` mutants with `workers` sandboxes in parallel and compares each.
    static func run(count: Int, seed: UInt64, workers: Int = 4) throws -> Report {
        let seeds = try seeds()
        let lock = NSLock()
        nonisolated(unsafe) var report = Report()
        nonisolated(unsafe) var failure: Error?
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do {
                let sandbox = try NginxSandbox()
                for index in stride(from: worker, to: count, by: workers) {
                    let (name, bytes) = mutant(index, of: seeds, seed: seed)
                    let check = try sandbox.check(bytes)
                    let (outcome, detail) = compare(bytes, verdict(ok: check.ok, output: check.output, sandbox: sandbox.dir.path))
                    lock.withLock {
                        report.counts[outcome, default: 0] += 1
                        if outcome.isDisagreement && report.examples.count < 20 {
                            report.examples.append("\(name) \(outcome.rawValue): \(detail)")
                        }
                    }
                }
            } catch {
                lock.withLock { failure = error }
            }
        }
        if let failure { throw failure }
        return report
    }
}
