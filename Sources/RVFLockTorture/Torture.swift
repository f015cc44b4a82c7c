@main
struct Torture {
    static func main() {
        print("rvflock-torture: not yet written")
    }
}
