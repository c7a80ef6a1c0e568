// being written
int main_placeholder_toneguard_synth() { return 1; }
int main() { return 1; }
