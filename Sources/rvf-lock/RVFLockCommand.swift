import ArgumentParser

@main
struct RVFLockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rvf-lock", abstract: "RVF writer lock tool (in progress).")
}
