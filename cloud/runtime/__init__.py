"""Task runtimes: Docker containers or plain processes, behind one interface."""
