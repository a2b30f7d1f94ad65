/// Text helpers for kubeconfig values: relative paths, tokens and namespaces read from files.
enum ConfigText {
    /// `relative` against the directory of `file` (kubeconfig paths are relative to their own file).
    static func resolve(_ relative: String, against file: String) -> String {
        if relative.hasPrefix("/") { return relative }
        guard let slash = file.lastIndex(of: "/") else { return relative }
        return String(file[...slash]) + relative
    }

    /// Text of a small file with surrounding whitespace removed (tokens, namespaces).
    static func trimmedText(_ bytes: [UInt8]) -> String {
        trimmed(String(decoding: bytes, as: UTF8.self))
    }

    /// `text` without leading and trailing whitespace and newlines.
    static func trimmed<Text: StringProtocol>(_ text: Text) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
