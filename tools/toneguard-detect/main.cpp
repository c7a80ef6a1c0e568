// being written
int main_placeholder_toneguard_detect() { return 1; }
int main() { return 1; }
