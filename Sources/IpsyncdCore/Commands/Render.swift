import Glibc
import Posix
import K8sWatch
import NginxConf

extension Commands {
    /// `ipsyncd render [--template PATH] [--output PATH|-]`: the template filled with the live addresses.
    package static func render(settings: Settings, output path: String, source: any ServiceSource) async -> CommandOutput {
        guard let templatePath = settings.template else {
            return .failure("render needs a template: give --template PATH or set `template:` in the config file")
        }
        let template: [UInt8]
        do { template = try Posix.read(templatePath) } catch {
            return .failure("cannot read the template \(templatePath) (\(error.reason)); check --template")
        }
        let snapshot = await source.snapshotResult()
        guard case .success(let snapshot) = snapshot else {
            return .failure("cannot read the Services from \(source.name): \(snapshot.errorText)")
        }
        var values: [String: TemplateValue] = [:]
        var missing: [String] = []
        for route in settings.routes where values[route.service] == nil {
            switch ServiceAddress.resolve(route, in: snapshot, serviceCIDRs: settings.serviceCIDRs) {
            case .success(let address): values[route.service] = TemplateValue(ip: address.ip, port: address.port)
            case .failure(let why): missing.append(why.message)
            }
        }
        guard missing.isEmpty else {
            return .failure("cannot render: " + missing.joined(separator: "; "))
        }
        let rendered: [UInt8]
        do { rendered = try renderTemplate(template, path: templatePath, values: values) } catch {
            return .failure("\(error)")
        }
        if path == "-" { return CommandOutput(stdout: rendered, exitCode: 0) }
        do { try Posix.replace(path, with: rendered, mode: 0o644) } catch {
            return .failure("cannot write \(path): \(error.reason)")
        }
        return CommandOutput(stderr: "ipsyncd: wrote \(path) (\(rendered.count) bytes)\n", exitCode: 0)
    }
}
