"""Streamlit pages: thin storyboards of filters -> data -> charts."""
